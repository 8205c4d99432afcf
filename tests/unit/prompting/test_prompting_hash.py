"""Template hashes: defined over the sources of the template and its partials; stable; sensitive to every edit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rlaif.prompting import TemplateSet, list_templates


def _framed(*files: tuple[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name, raw in files:
        digest.update(f"{name}\0{len(raw)}\0".encode())
        digest.update(raw)
    return digest.hexdigest()


def test_hash_is_defined_over_sources_in_include_order(tmp_path: Path) -> None:
    (tmp_path / "_inner.j2").write_bytes(b"inner {{ x }}\n")
    (tmp_path / "_outer.j2").write_bytes(b'outer\n{% include "_inner.j2" %}\n')
    (tmp_path / "t.j2").write_bytes(b'top\n{% include "_outer.j2" %}\n')
    templates = TemplateSet.load(tmp_path, shipped=False)
    expected = _framed(
        ("t.j2", b'top\n{% include "_outer.j2" %}\n'),
        ("_outer.j2", b'outer\n{% include "_inner.j2" %}\n'),
        ("_inner.j2", b"inner {{ x }}\n"),
    )
    assert templates.template_hash("t.j2") == expected
    assert templates.render("t", x=1).template_hash == expected
    assert templates.template_hash("_inner.j2") == _framed(("_inner.j2", b"inner {{ x }}\n"))


def test_hash_is_stable_and_does_not_depend_on_location(prompts_copy: Path, s: Any) -> None:
    shipped = TemplateSet.load()
    copied = TemplateSet.load(prompts_copy)
    again = TemplateSet.load()
    for name in ("compare.j2", "critique.j2", "revise.j2", "score.j2", "rm_input.j2", "compare_cot.j2"):
        assert shipped.template_hash(name) == copied.template_hash(name) == again.template_hash(name)
        assert shipped.render(name, **s.variables()).template_hash == shipped.template_hash(name)
    # the variables do not enter the hash
    assert (
        shipped.render("compare", **s.variables()).template_hash
        == shipped.render("compare", **s.variables(principle=s.CONCISE)).template_hash
    )


def test_editing_a_partial_changes_only_the_templates_that_use_it(prompts_copy: Path) -> None:
    before = TemplateSet.load(prompts_copy)
    hashes = {name: before.template_hash(name) for name in ("compare", "compare_cot", "critique")}
    partial = prompts_copy / "_comparison.j2"
    partial.write_text(partial.read_text() + "\n", encoding="utf-8")
    after = TemplateSet.load(prompts_copy)
    assert after.template_hash("compare") != hashes["compare"]
    assert after.template_hash("compare_cot") != hashes["compare_cot"]
    assert after.template_hash("critique") == hashes["critique"]

    shared = prompts_copy / "_conversation.j2"
    shared.write_text(shared.read_text().replace("<conversation>", "<conversation>\n"), encoding="utf-8")
    edited = TemplateSet.load(prompts_copy)
    for name in ("compare", "critique", "revise", "score", "rm_input"):
        assert edited.template_hash(name) != after.template_hash(name), name


def test_a_loaded_set_is_a_snapshot(prompts_copy: Path, s: Any) -> None:
    templates = TemplateSet.load(prompts_copy)
    first = templates.render("critique", **s.variables())
    (prompts_copy / "critique.j2").write_text("changed {{ response }}", encoding="utf-8")
    second = templates.render("critique", **s.variables())
    assert first == second


def test_user_folder_overrides_one_template(tmp_path: Path, s: Any) -> None:
    (tmp_path / "compare.j2").write_text(
        '{% set answer_prefix = "Verdict: " %}{% set choices = [" A", " B"] %}'
        'MINE\n{% include "_conversation.j2" %}\n{{ response_a | neutralize }} vs {{ response_b | neutralize }}\n'
        "{{ principle.compare }}",
        encoding="utf-8",
    )
    shipped = TemplateSet.load()
    templates = TemplateSet.load(tmp_path)
    mine = templates.render("compare", **s.variables())
    assert mine.text.startswith("MINE\n<conversation>\n")  # the shipped partial is still found
    assert mine.answer_prefix == "Verdict: " and mine.choices == (" A", " B")
    assert templates.path("compare") == (tmp_path / "compare.j2").resolve()
    assert mine.template_hash != shipped.template_hash("compare")
    # everything else is the shipped template
    assert templates.render("critique", **s.variables()) == shipped.render("critique", **s.variables())

    listed = {info.name: info for info in list_templates(tmp_path)}
    assert listed["compare.j2"].origin == "user"
    assert listed["compare.j2"].hash == mine.template_hash
    assert listed["critique.j2"].origin == "shipped"
    assert listed["compare.j2"].variables == ["conversation", "principle", "response_a", "response_b"]
