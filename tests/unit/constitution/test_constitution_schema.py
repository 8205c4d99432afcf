"""Schema validation, regex policy, and loading of every shipped constitution."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.constitution import (
    Constitution,
    Principle,
    Rule,
    catastrophic_reason,
    load_constitution,
    load_constitution_text,
    load_constitutions,
    pattern_problem,
)
from rlaif.constitution.schema import MAX_PATTERN_LENGTH
from rlaif.errors import DataFileError
from rlaif.resources import shipped_dir

PRINCIPLES = shipped_dir("principles")


def _principle(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "p", "compare": "Which?", "critique": "Critique.", "revision": "Revise."}
    base.update(kw)
    return base


def test_valid_text_loads(valid_text: str) -> None:
    c = load_constitution_text(valid_text)
    assert c.name == "test"
    assert c.version == "1"  # an int version is read as text
    assert c.principle_ids == ("alpha", "beta")
    beta = c.get("beta")
    assert beta.weight == 3.0
    assert beta.rule is not None and beta.rule.max_words == 10
    assert beta.ref == "beta@1"
    with pytest.raises(KeyError):
        c.get("gamma")


def test_float_version_must_be_quoted() -> None:
    with pytest.raises(DataFileError) as e:
        load_constitution_text(
            "name: x\nversion: 1.10\nprinciples:\n  - {id: a, compare: c, critique: c, revision: r}\n"
        )
    assert e.value.problem.field == "version"
    assert "quotes" in e.value.problem.message


@pytest.mark.parametrize(
    ("kw", "field", "fragment"),
    [
        ({"weight": 0}, "weight", "greater than 0"),
        ({"weight": -2}, "weight", "greater than 0"),
        ({"weight": float("inf")}, "weight", "finite"),
        ({"id": "Bad Id"}, "id", "not a valid id"),
        ({"compare": "   "}, "compare", "blank"),
        ({"tags": ["two words"]}, "tags[0]", "not a valid tag"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"rule": {}}, "rule", "at least one condition"),
        ({"rule": {"min_words": 5, "max_words": 2}}, "rule.max_words", "greater than max_words"),
    ],
)
def test_principle_field_errors(kw: dict[str, object], field: str, fragment: str) -> None:
    from rlaif.yamlfile import YamlDocument, validate_document

    doc = YamlDocument(data={"name": "x", "principles": [_principle(**kw)]}, path_label="t")
    with pytest.raises(DataFileError) as e:
        validate_document(doc, Constitution, what="constitution")
    fields = {p.field: p.message for p in e.value.problems}
    assert f"principles[0].{field}" in fields, fields
    assert fragment in fields[f"principles[0].{field}"]


def test_duplicate_ids_point_at_second() -> None:
    text = (
        "name: x\nprinciples:\n"
        "  - {id: a, compare: c, critique: c, revision: r}\n"
        "  - {id: b, compare: c, critique: c, revision: r}\n"
        "  - {id: a, compare: c, critique: c, revision: r}\n"
    )
    with pytest.raises(DataFileError) as e:
        load_constitution_text(text, "d.yaml")
    p = e.value.problem
    assert (p.line, p.field) == (5, "principles[2].id")
    assert "duplicate principle id 'a'" in p.message and "principles[0]" in p.message


def test_single_pattern_string_is_a_list() -> None:
    assert Rule(must_not_match="!").must_not_match == ("!",)  # type: ignore[arg-type]


def test_rule_is_data_only() -> None:
    with pytest.raises(ValueError):
        Rule.model_validate({"check": "lambda s: True"})


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+",
        "(a*)*",
        "(a|a)*",
        "(.*)*",
        r"(\w+\s?)+",
        "(a+a)+",
        r"(\d+\.?)+$",
        "(a|aa)+",
        "(x+x+)+y",
        "(a+){2,9}",
    ],
)
def test_catastrophic_patterns_rejected(pattern: str) -> None:
    assert catastrophic_reason(pattern) is not None
    problem = pattern_problem(pattern, max_length=MAX_PATTERN_LENGTH)
    assert problem is not None and "catastrophic backtracking" in problem


@pytest.mark.parametrize(
    "pattern",
    [
        "^(sure|certainly)[!,.]",
        r"(\d+\.){3}\d+",
        r"\b[A-Z]{2,}(?:\s+[A-Z]{2,}){2,}\b",
        r"(?m)^\s*(?:[-*•]|\d+[.)])\s",
        "(ab+c)+",
        "(a++)+",
        "(?>a+)+",
        "(ab|ac)+",
        r"(\w|\d)+",
        "as an ai language model",
    ],
)
def test_safe_patterns_accepted(pattern: str) -> None:
    assert catastrophic_reason(pattern) is None


def test_pattern_length_bound() -> None:
    problem = pattern_problem("a" * (MAX_PATTERN_LENGTH + 1), max_length=MAX_PATTERN_LENGTH)
    assert problem is not None and "limit is 500" in problem


def test_invalid_regex_names_the_item() -> None:
    text = (
        "name: x\nprinciples:\n  - id: a\n    compare: c\n    critique: c\n    revision: r\n"
        "    rule:\n      must_not_match:\n        - ok\n        - '(unclosed'\n"
    )
    with pytest.raises(DataFileError) as e:
        load_constitution_text(text, "r.yaml")
    p = e.value.problem
    assert (p.line, p.field) == (10, "principles[0].rule.must_not_match[1]")
    assert "invalid regular expression" in p.message


def test_python_construction_validates_too() -> None:
    with pytest.raises(ValueError, match="catastrophic"):
        Principle(id="a", compare="c", critique="c", revision="r", rule=Rule(must_match=("(a+)+",)))


# --- shipped files ----------------------------------------------------------------------------------------------


def test_every_file_in_principles_loads() -> None:
    files = sorted(p for p in PRINCIPLES.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert len(files) >= 3
    for path in files:
        c = load_constitution(path)
        assert c.principles, path
    assert {c.name for c in load_constitutions(PRINCIPLES)} >= {"hhh", "safety", "style"}


def test_hhh_shape() -> None:
    c = load_constitution(PRINCIPLES / "hhh.yaml")
    assert 8 <= len(c.principles) <= 12
    honesty = c.get("honesty")
    assert honesty.negation and "honest" in honesty.compare
    assert all(p.negation for p in c.principles)
    assert all(p.tags for p in c.principles)
    assert len({p.weight for p in c.principles}) > 1


def test_safety_shape() -> None:
    c = load_constitution(PRINCIPLES / "safety.yaml")
    assert 6 <= len(c.principles) <= 10
    assert all("safety" in p.tags for p in c.principles)


def test_style_every_principle_has_a_rule() -> None:
    c = load_constitution(PRINCIPLES / "style.yaml")
    assert len(c.principles) >= 5
    assert all(p.rule is not None for p in c.principles)
    assert c.get("concise").rule == Rule(max_words=60)


def test_shipped_readme_lists_every_principle() -> None:
    readme = (PRINCIPLES / "README.md").read_text(encoding="utf-8")
    for c in load_constitutions(PRINCIPLES):
        for p in c.principles:
            assert f"`{p.id}`" in readme, p.id


def test_load_constitutions_reports_all_bad_files(tmp_path: Path, valid_text: str) -> None:
    (tmp_path / "good.yaml").write_text(valid_text, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad1.yaml").write_text("name: x\nprinciples: []\n", encoding="utf-8")
    (tmp_path / "sub" / "bad2.yml").write_text("name: [\n", encoding="utf-8")
    with pytest.raises(DataFileError) as e:
        load_constitutions(tmp_path)
    paths = {Path(p.path).name for p in e.value.problems if p.path}
    assert paths == {"bad1.yaml", "bad2.yml"}
