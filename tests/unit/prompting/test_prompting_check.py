"""check_template_file and list_templates; every shipped file in prompts/ is loaded and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.prompting import TEMPLATE_VARIABLES, TemplateSet, check_template_file, list_templates
from rlaif.resources import shipped_dir


def test_every_file_in_prompts_is_a_valid_template_or_the_readme(s: Any) -> None:
    folder = shipped_dir("prompts")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, "prompts/ is empty"
    templates = TemplateSet.load()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for path in files:
        if path.name == "README.md":
            continue
        assert path.suffix == ".j2", f"unexpected file in prompts/: {path}"
        assert check_template_file(path) == [], path
        name = path.relative_to(folder).as_posix()
        assert f"`{name}`" in readme, f"{name} is not documented in prompts/README.md"
        if not path.name.startswith("_"):
            rendered = templates.render(name, **s.variables())
            assert rendered.text.strip()
            for variable in TEMPLATE_VARIABLES[name]:
                assert f"`{variable}`" in readme


def _problems(tmp_path: Path, source: str | bytes, name: str = "mine.j2") -> list[Any]:
    path = tmp_path / name
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        path.write_text(source, encoding="utf-8")
    return check_template_file(path)


def test_syntax_error_with_line(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "a\nb\n{% for x in %}\n")
    assert problem.line == 3 and problem.path == str(tmp_path / "mine.j2")


def test_unknown_filter_even_inside_a_condition(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "a\n{% if x %}\n{{ x | shout }}\n{% endif %}\n")
    assert problem.line == 3 and "unknown filter 'shout'" in problem.message


def test_undocumented_variable_in_a_shipped_name(tmp_path: Path) -> None:
    source = (
        '{% set answer_prefix = "(" %}{% set choices = ["A", "B"] %}\n'
        "{{ response_a | neutralize }}{{ response_b | neutralize }}\n{{ principle.compare }} {{ temperature }}\n"
    )
    [problem] = _problems(tmp_path, source, "compare.j2")
    assert problem.field == "temperature" and problem.line == 3
    # the same file under a name of the user's own is free to use any variable
    assert _problems(tmp_path, source, "my_compare.j2") == []


def test_untrusted_text_without_neutralize(tmp_path: Path) -> None:
    source = "{{ principle.compare }}\n{{ response | trim }}\n{{ response | neutralize | trim }}\n"
    [problem] = _problems(tmp_path, source, "critique.j2")
    assert problem.field == "response" and problem.line == 2 and "neutralize" in problem.message


def test_scored_template_must_declare_choices(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, "{{ response_a | neutralize }} {{ response_b | neutralize }}", "compare.j2"
    )
    assert sorted(p.field for p in problems) == ["answer_prefix", "choices"]


def test_bad_metadata_and_includes(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '{% set choices = "AB" %}\n{% include "nowhere.j2" %}\n{% include name ~ ".j2" %}\n',
    )
    messages = [(p.line, p.message) for p in problems]
    assert messages[0][0] == 2 and "nowhere.j2" in messages[0][1]
    assert messages[1][0] == 3 and "computed at render time" in messages[1][1]
    assert messages[2][0] == 1 and "metadata 'choices'" in messages[2][1]


def test_unreadable_files(tmp_path: Path) -> None:
    [bad_bytes] = _problems(tmp_path, b"ok\n\x80\n")
    assert bad_bytes.line == 2 and "UTF-8" in bad_bytes.message
    (tmp_path / "folder.j2").mkdir()
    [folder] = check_template_file(tmp_path / "folder.j2")
    assert "directory" in folder.message
    [missing] = check_template_file(tmp_path / "nope.j2")
    assert "not found" in missing.message


def test_list_templates_shipped() -> None:
    infos = {info.name: info for info in list_templates()}
    assert set(TEMPLATE_VARIABLES) <= set(infos)
    compare = infos["compare.j2"]
    assert compare.variables == ["conversation", "principle", "response_a", "response_b"]
    assert compare.choices == ("A", "B") and compare.answer_prefix == "Answer: ("
    assert compare.hash == TemplateSet.load().template_hash("compare.j2")
    assert infos["_conversation.j2"].is_partial and not compare.is_partial
    assert all(info.origin == "shipped" and info.error is None for info in infos.values())


def test_list_templates_reports_a_broken_template(tmp_path: Path) -> None:
    (tmp_path / "broken.j2").write_text("{% if %}")
    infos = {info.name: info for info in list_templates(tmp_path)}
    assert infos["broken.j2"].origin == "user"
    assert infos["broken.j2"].error is not None and "broken.j2:1" in infos["broken.j2"].error
    assert infos["compare.j2"].error is None
