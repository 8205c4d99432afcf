"""rlaif.yamlfile: safe loading, positions, duplicate keys, and pydantic errors mapped to lines."""

from __future__ import annotations

import contextlib
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from rlaif.constitution.schema import Constitution, Principle, Rule
from rlaif.errors import DataFileError
from rlaif.yamlfile import format_loc, load_yaml_model, load_yaml_text, read_text_file


def test_positions_of_keys_and_items() -> None:
    doc = load_yaml_text("a: 1\nb:\n  - x\n  - c: 2\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert doc.positions[("a",)].line == 1
    assert doc.positions[("b", 0)].line == 3
    assert (doc.positions[("b", 1)].line, doc.positions[("b", 1)].column) == (4, 5)
    assert doc.positions[("b", 1, "c")].line == 4


def test_yaml_12_scalars() -> None:
    doc = load_yaml_text("a: no\nb: yes\nc: 2024-01-01\nd: =\ne: true\nf: 0x10\ng: 1.5\nh: 1e3\ni: ~\n")
    assert doc.data == {
        "a": "no",
        "b": "yes",
        "c": "2024-01-01",
        "d": "=",
        "e": True,
        "f": 16,
        "g": 1.5,
        "h": "1e3",
        "i": None,
    }


def test_duplicate_key_reports_second_line() -> None:
    with pytest.raises(DataFileError) as e:
        load_yaml_text("name: a\nx: 1\nname: b\n", "f.yaml")
    p = e.value.problem
    assert p.line == 3
    assert "duplicate key 'name'" in p.message
    assert "line 1" in p.message


def test_duplicate_key_nested() -> None:
    with pytest.raises(DataFileError) as e:
        load_yaml_text("p:\n  - id: a\n    weight: 1\n    weight: 2\n", "f.yaml")
    assert e.value.problem.line == 4


def test_merge_keys_may_be_overridden() -> None:
    doc = load_yaml_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert doc.data["m"] == {"x": 1, "y": 3}
    assert doc.positions[("m", "y")].line == 4


def test_python_tags_are_refused() -> None:
    with pytest.raises(DataFileError) as e:
        load_yaml_text("a: !!python/object/apply:os.system ['echo hi']\n", "f.yaml")
    assert "could not determine a constructor" in e.value.problem.message


def test_bad_explicit_tag_value_is_a_data_error() -> None:
    with pytest.raises(DataFileError) as e:
        load_yaml_text("a: 1\nb: !!int abc\n", "f.yaml")
    assert e.value.problem.line == 2


def test_tab_indentation() -> None:
    with pytest.raises(DataFileError) as e:
        load_yaml_text("a:\n\tb: 1\n", "f.yaml")
    assert e.value.problem.line == 2
    assert "tabs" in e.value.problem.message


def test_billion_laughs_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(DataFileError) as e:
        load_yaml_text("\n".join(lines) + "\n", "bomb.yaml")
    assert "expands" in e.value.problem.message


def test_deep_nesting_is_a_data_error() -> None:
    with pytest.raises(DataFileError):
        load_yaml_text("a: " + "[" * 5000 + "]" * 5000, "deep.yaml")


def test_read_text_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_text_file(tmp_path / "missing.yaml", what="constitution")
    with pytest.raises(DataFileError, match="directory"):
        read_text_file(tmp_path, what="constitution")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    with pytest.raises(DataFileError) as e:
        read_text_file(bad, what="constitution")
    p = e.value.problem
    assert (p.line, p.column) == (2, 17)
    assert "byte offset 25" in p.message
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_text_file(bom) == "a: 1\n"


def test_format_loc() -> None:
    assert format_loc(("principles", 3, "weight")) == "principles[3].weight"
    assert (
        format_loc(("principles", 2, "rule", "must_not_match", 0)) == "principles[2].rule.must_not_match[0]"
    )
    assert format_loc(("m", 1), {"m": {1: "x"}}) == "m[1]"
    assert format_loc(("a b",)) == "['a b']"


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    items: list[_Inner]


def test_every_error_gets_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: x\nitems:\n  - size: 1\n  - size: big\n  - sise: 3\n", encoding="utf-8")
    with pytest.raises(DataFileError) as e:
        load_yaml_model(path, _Outer, what="thing")
    problems = {p.field: p for p in e.value.problems}
    assert problems["items[1].size"].line == 4
    assert "got 'big'" in problems["items[1].size"].message
    assert problems["items[2].sise"].line == 5
    assert "did you mean 'size'?" in problems["items[2].sise"].message
    # the missing field is reported at the item that lacks it
    assert problems["items[2].size"].line == 5
    assert "missing required field 'size'" in problems["items[2].size"].message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="holds a list"):
        load_yaml_model(path, _Outer, what="thing")


def test_empty_and_comment_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataFileError, match="is empty"):
        load_yaml_model(empty, _Outer, what="thing")
    comments = tmp_path / "comments.yaml"
    comments.write_text("# nothing here\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="holds no data"):
        load_yaml_model(comments, _Outer, what="thing")


# --- property test: any YAML-ish input either loads or raises DataFileError -------------------------------------

_FIELD_NAMES = sorted(
    set(Constitution.model_fields)
    | set(Principle.model_fields)
    | set(Rule.model_fields)
    | {"messages", "role"}
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["(a+)+", "(", "[a-", "x" * 600, "", "  ", "hello", "a|b", "yes", "1.10"]),
)
_keys = st.one_of(st.sampled_from(_FIELD_NAMES), st.text(string.ascii_lowercase, min_size=1, max_size=8))
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=6)),
    max_leaves=25,
)
_documents = st.dictionaries(_keys, _values, max_size=7)


def _load_or_data_error(text: str) -> None:
    from rlaif.constitution import load_constitution_text

    with contextlib.suppress(DataFileError):
        load_constitution_text(text, "prop.yaml")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_property_random_structures(doc: dict[str, object]) -> None:
    _load_or_data_error(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=250, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*list(":-[]{}&*!|>'\"#%@`,?\t\n "), "a", "1", "é", "\x85"]), max_size=60
    )
)
def test_property_random_text(text: str) -> None:
    _load_or_data_error(text)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": st.sampled_from(["a", "b", "A b", "x" * 70]), "compare": st.text(max_size=5)},
            optional={
                "weight": _scalars,
                "tags": _values,
                "rule": st.dictionaries(st.sampled_from(sorted(Rule.model_fields)), _values, max_size=4),
                "critique": _scalars,
                "revision": _scalars,
            },
        ),
        max_size=4,
    )
)
def test_property_principle_shaped(principles: list[dict[str, object]]) -> None:
    _load_or_data_error(yaml.safe_dump({"name": "p", "principles": principles}, allow_unicode=True))
