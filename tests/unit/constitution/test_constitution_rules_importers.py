"""Deterministic rule checks; importers of the public formats; the YAML writer's round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.constitution import (
    Constitution,
    Rule,
    check_principles,
    check_rule,
    detect_format,
    dump_constitution_yaml,
    import_anthropic,
    import_constitution_file,
    load_constitution,
    load_constitution_text,
)
from rlaif.constitution.importers import COMPARE_TEMPLATE, slugify
from rlaif.constitution.rules import count_sentences, count_words
from rlaif.errors import DataFileError
from rlaif.resources import shipped_dir

# --- rules ------------------------------------------------------------------------------------------------------


def test_counts() -> None:
    assert count_words("  one two\tthree\nfour ") == 4
    assert count_sentences("Hello there. How are you? Fine! ok") == 4
    assert count_sentences('He said "stop." Then left…  Done') == 3
    assert count_sentences("Version 2.5 is out") == 1
    assert count_sentences("...") == 0
    assert count_sentences("") == 0


def test_word_and_char_bounds() -> None:
    rule = Rule(min_words=2, max_words=4, max_chars=20)
    ok = check_rule(rule, "three small words")
    assert ok.passed and ok.failures == []
    assert ok.details["words"] == 3 and ok.details["chars"] == 17
    long = check_rule(rule, "one two three four five six")
    assert not long.passed
    assert long.failures == [
        "has 6 words, more than max_words=4",
        "has 27 characters, more than max_chars=20",
    ]
    short = check_rule(rule, "one")
    assert short.failures == ["has 1 words, fewer than min_words=2"]


def test_sentence_bound() -> None:
    rule = Rule(max_sentences=2)
    assert check_rule(rule, "One. Two.").passed
    result = check_rule(rule, "One. Two. Three.")
    assert result.failures == ["has 3 sentences, more than max_sentences=2"]


def test_patterns_case_and_anchors() -> None:
    rule = Rule(
        must_not_match=("^(sure|certainly)[!,.]", "as an ai language model"), must_match=(r"\bparis\b",)
    )
    bad = check_rule(rule, "Sure! As an AI language model, I think it is Lyon.")
    assert not bad.passed
    assert bad.details["forbidden"] == {
        "^(sure|certainly)[!,.]": "Sure!",
        "as an ai language model": "As an AI language model",
    }
    assert "must_match pattern '\\\\bparis\\\\b' not found" in bad.failures
    good = check_rule(rule, "The capital is Paris. Sure, it is.")
    assert good.passed, good.failures  # '^' anchors at the start of the whole text only
    strict = Rule(must_not_match=("NASA",), case_sensitive=True)
    assert check_rule(strict, "nasa").passed
    assert not check_rule(strict, "NASA").passed


def test_style_constitution_rules() -> None:
    style = load_constitution(shipped_dir("principles") / "style.yaml")
    clean = "Paris is the capital of France, and it sits on the Seine."
    assert all(r.passed for r in check_principles(style.principles, clean).values())
    noisy = "Sure! Here is the answer:\n- PARIS IS GREAT\n- **bold**\nI hope this helps!"
    failed = {pid for pid, r in check_principles(style.principles, noisy).items() if not r.passed}
    assert failed == {"no_filler", "plain_prose", "no_markdown", "no_shouting", "no_exclamations"}


def test_check_rule_is_deterministic() -> None:
    rule = Rule(max_words=3, must_not_match=("x",))
    assert check_rule(rule, "a x b c d") == check_rule(rule, "a x b c d")


# --- importers --------------------------------------------------------------------------------------------------


def test_import_anthropic(fixtures_dir: Path) -> None:
    c = import_constitution_file(fixtures_dir / "anthropic_small.json", name="demo")
    assert c.name == "demo"
    assert c.principle_ids == ("harmful0", "honest-accurate", "two-critiques", "two-critiques-2")
    first = c.principles[0]
    assert (
        first.critique
        == "Point out every way the assistant's last reply could hurt someone or break the law."
    )
    assert first.revision.startswith("Rewrite the assistant's reply so that nothing")
    assert first.compare == COMPARE_TEMPLATE.format(critique=first.critique)
    assert first.negation is not None and "more criticism" in first.negation
    # two critique requests split the weight of one name
    assert [p.weight for p in c.principles] == [1.0, 1.0, 0.5, 0.5]
    assert "generated" in c.description


def test_import_hf_keeps_examples(fixtures_dir: Path) -> None:
    c = import_constitution_file(fixtures_dir / "hf_small.json")
    assert c.name == "hf_small"
    assert c.principle_ids == (
        "does-the-reply-contain-anything",
        "does-the-reply-contain-anything-2",
        "is-any-part-of-the-reply-unkind-toward",
    )
    assert len(c.examples) == 1
    assert [m.role for m in c.examples[0].messages] == ["user", "assistant", "user", "assistant"]
    assert c.examples[0].messages[1].content == "Blot it with cold water and a little wool detergent."


def test_detect_format(fixtures_dir: Path) -> None:
    assert detect_format(json.loads((fixtures_dir / "anthropic_small.json").read_text())) == "anthropic"
    assert detect_format(json.loads((fixtures_dir / "hf_small.json").read_text())) == "hf"
    assert detect_format({"x": 1}) is None
    assert detect_format([]) is None


def test_import_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as e:
        import_anthropic({"a": {"prompt": [], "edit_request": "x"}}, name="n", source="in.json")
    assert e.value.problem.field == "a.prompt"
    bad_role = tmp_path / "hf.json"
    bad_role.write_text(
        json.dumps(
            {
                "constitutions": [{"critic": "c", "revision": "r"}],
                "system_chat": [[{"role": "bot", "content": "x"}]],
            }
        )
    )
    with pytest.raises(DataFileError) as e2:
        import_constitution_file(bad_role)
    assert e2.value.problem.field == "examples[0].messages[0].role"
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "a": [1,\n}\n')
    with pytest.raises(DataFileError) as e3:
        import_constitution_file(broken)
    assert e3.value.problem.line == 3 and "invalid JSON" in e3.value.problem.message
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"a": 1}')
    with pytest.raises(DataFileError, match="cannot tell the input's format"):
        import_constitution_file(unknown)


def test_slugify() -> None:
    assert slugify("Honest & Accurate") == "honest-accurate"
    assert slugify("Café déjà vu") == "cafe-deja-vu"
    assert slugify("!!!") == "principle"
    assert len(slugify("word " * 50)) <= 40


# --- writer -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in shipped_dir("principles").glob("*.yaml")))
def test_dump_round_trips_shipped(name: str) -> None:
    c = load_constitution(shipped_dir("principles") / name)
    text = dump_constitution_yaml(c)
    assert load_constitution_text(text) == c


def test_dump_round_trips_awkward_text(fixtures_dir: Path) -> None:
    c = import_constitution_file(fixtures_dir / "hf_small.json")
    awkward = c.model_copy(
        update={
            "name": "yes",
            "version": "1.10",
            "description": "line one\n  indented: colon # hash\n\nlast line\n",
        }
    )
    awkward = Constitution.model_validate(awkward.model_dump())
    text = dump_constitution_yaml(awkward, header="a header\nsecond line")
    assert text.startswith("# a header\n# second line\n")
    assert "description: |" in text
    assert load_constitution_text(text) == awkward
    # text a block scalar cannot hold exactly (trailing spaces) falls back to a quoted scalar, still exact
    spaced = awkward.model_copy(update={"description": "trailing space \nnext\n"})
    assert load_constitution_text(dump_constitution_yaml(spaced)) == spaced
