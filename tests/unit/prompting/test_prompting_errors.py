"""Every template failure is a TemplateError naming the file and line: syntax, undefined, sandbox, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlaif.errors import TemplateError
from rlaif.prompting import TemplateSet
from rlaif.resources import shipped_dir


def _one(tmp_path: Path, source: str | bytes, name: str = "t.j2") -> TemplateSet:
    path = tmp_path / name
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        path.write_text(source, encoding="utf-8")
    return TemplateSet.load(tmp_path)


def test_undefined_variable_names_variable_template_and_line(s: Any) -> None:
    templates = TemplateSet.load()
    variables = s.variables()
    del variables["response_b"]
    with pytest.raises(TemplateError) as info:
        templates.render("compare", **variables)
    problem = info.value.problem
    partial = shipped_dir("prompts") / "_comparison.j2"
    expected_line = next(
        i for i, line in enumerate(partial.read_text().splitlines(), 1) if "{{ response_b" in line
    )
    assert problem.field == "response_b"
    assert problem.path == str(partial)
    assert problem.line == expected_line
    assert "undefined variable 'response_b'" in problem.message
    assert "response_a" in (info.value.hint or "")  # the hint lists what was given


def test_undefined_attribute(tmp_path: Path) -> None:
    templates = _one(tmp_path, "line one\n{{ principle.compare }}\n")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2", principle={"id": "x"})
    assert info.value.problem.line == 2
    assert "compare" in info.value.problem.message


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    templates = _one(tmp_path, "first\nsecond\n{{ response + }}\nfourth\n")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2", response="x")
    assert info.value.problem.line == 3
    assert info.value.problem.path == str(tmp_path / "t.j2")
    assert "syntax error" in info.value.problem.message


def test_syntax_error_in_an_included_partial(tmp_path: Path) -> None:
    (tmp_path / "_part.j2").write_text("ok\n{% if x %}\nnever closed\n")
    templates = _one(tmp_path, 'head\n{% include "_part.j2" %}\n')
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2", x=True)
    assert info.value.problem.path == str(tmp_path / "_part.j2")
    assert info.value.problem.line is not None and info.value.problem.line >= 2


def test_unknown_filter(tmp_path: Path) -> None:
    templates = _one(tmp_path, "a\n{{ response | shout }}\n")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2", response="x")
    assert info.value.problem.line == 2
    assert "shout" in info.value.problem.message


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ range.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{{ response.__class__ }}",
        "{{ conversation.append(1) }}",
        "{{ principle.__dict__ }}",
        "{{ 'a' * 100000000 }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(10**9) %}{% endfor %}",
    ],
)
def test_sandbox_escapes_raise_template_error(tmp_path: Path, source: str, s: Any) -> None:
    templates = _one(tmp_path, f"harmless first line\n{source}\n")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2", **s.variables())
    assert info.value.problem.path == str(tmp_path / "t.j2")
    assert info.value.problem.line == 2


def test_sandbox_violation_is_labelled(tmp_path: Path) -> None:
    templates = _one(tmp_path, "{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="sandbox violation"):
        templates.render("t.j2")


def test_non_utf8_template(tmp_path: Path) -> None:
    templates = _one(tmp_path, b"fine\nalso fine\nbad \xff\xfe byte\n")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2")
    assert info.value.problem.line == 3
    assert "UTF-8" in info.value.problem.message


def test_directory_named_like_a_template(tmp_path: Path) -> None:
    (tmp_path / "compare.j2").mkdir()
    templates = TemplateSet.load(tmp_path)
    with pytest.raises(TemplateError, match="is a directory"):
        templates.render("compare.j2")


def test_missing_template_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found"):
        TemplateSet.load().render("no_such_template")
    with pytest.raises(TemplateError, match="not found"):
        TemplateSet.load(tmp_path / "missing")
    (tmp_path / "f.j2").write_text("x")
    with pytest.raises(TemplateError, match="is a file"):
        TemplateSet.load(tmp_path / "f.j2")
    with pytest.raises(TemplateError, match="invalid template name"):
        TemplateSet.load().resolve("../etc/passwd")


def test_bad_metadata(tmp_path: Path) -> None:
    templates = _one(tmp_path, '{% set choices = ["A"] %}text')
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2")
    assert info.value.problem.field == "choices"


def test_runtime_error_in_template_code(tmp_path: Path) -> None:
    templates = _one(tmp_path, "a\nb\n{{ 1 / 0 }}")
    with pytest.raises(TemplateError) as info:
        templates.render("t.j2")
    assert info.value.problem.line == 3
    assert "ZeroDivisionError" in info.value.problem.message


def test_bad_conversation_is_a_template_error(s: Any) -> None:
    templates = TemplateSet.load()
    with pytest.raises(TemplateError, match="role 'robot'"):
        templates.render("compare", **s.variables(conversation=[{"role": "robot", "content": "hi"}]))
    with pytest.raises(TemplateError, match="no 'content'"):
        templates.render("compare", **s.variables(conversation=[{"role": "user"}]))
    with pytest.raises(TemplateError, match="neutralize expects text"):
        templates.render("compare", **s.variables(response_a=None))


def test_no_raw_jinja_exception_escapes(tmp_path: Path) -> None:
    import jinja2

    for source in ["{% for %}", "{{ x }}", "{{ ''.__class__.__mro__ }}", '{% include "nope.j2" %}']:
        templates = _one(tmp_path, source)
        try:
            templates.render("t.j2")
        except TemplateError as e:
            assert not isinstance(e, jinja2.TemplateError)
            assert e.__cause__ is None or not isinstance(e.__cause__, jinja2.TemplateError)
        else:
            pytest.fail(f"{source!r} rendered")
