"""Checks every JSON Lines file under ``data/``: the prompt sets and the hand-written human preference labels.

A file is recognised by where it lives and what it is called (see ``_kind``); a new ``.jsonl`` that matches no kind
fails the suite, so nothing under ``data/`` goes unchecked. Row counts must match ``data/README.md``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[3] / "data"
FILES = sorted(DATA.rglob("*.jsonl"))

CATEGORIES = {"everyday", "harm_tempting", "style"}
SPLITS = {"train", "heldout"}
ID_PREFIX = {"everyday": "everyday-", "harm_tempting": "harm-", "style": "style-"}
LABEL_ID_PREFIX = {
    "trl_format": "trl-",
    "trl_conversational": "trlconv-",
    "transcript_format": "transcript-",
    "style_rule_pairs": "stylepair-",
}
STYLE_RULES = {"concise", "no_filler", "no_exclamation", "no_shouting", "no_needless_list", "no_hedging"}

HUMAN = "\n\nHuman: "
ASSISTANT = "\n\nAssistant: "


def _rel(path: Path) -> str:
    return path.relative_to(DATA).as_posix()


def _kind(path: Path) -> str:
    """Which schema a data file follows, or "unknown" (which fails ``test_every_file_has_a_known_schema``)."""
    rel = _rel(path)
    if rel == "prompts/smoke.jsonl":
        return "smoke"
    if rel.startswith("prompts/") and path.stem in CATEGORIES:
        return "prompts"
    if rel == "prompts/plain.jsonl":  # the main job's prompts: 40 train, 64 held out (a larger evaluation)
        return "plain"
    if rel == "gold/pairs.jsonl":  # the critic gate's gold pairs, TRL plain format
        return "gold"
    if rel.startswith("human_labels/") and path.stem in LABEL_ID_PREFIX:
        return path.stem
    return "unknown"


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"data/{_rel(path)}: the last line has no newline"
    for lineno, line in enumerate(text.split("\n")[:-1], start=1):
        assert line.strip(), f"data/{_rel(path)}:{lineno}: blank line"
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"data/{_rel(path)}:{lineno}: invalid JSON: {e.msg}") from e


def _all_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = list(_rows(path))
    for lineno, row in rows:
        assert isinstance(row, dict), f"data/{_rel(path)}:{lineno}: a row must be a JSON object"
    assert rows, f"data/{_rel(path)}: empty file"
    return rows


def _empty_strings(value: Any, where: str) -> list[str]:
    """Paths of strings inside ``value`` that are empty or only whitespace."""
    if isinstance(value, str):
        return [where] if not value.strip() else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_strings(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _empty_strings(v, f"{where}[{i}]")]
    return []


def _readme_table() -> dict[str, tuple[int, int | None]]:
    """``file -> (rows, heldout or None)`` from the tables in data/README.md."""
    table: dict[str, tuple[int, int | None]] = {}
    for line in (DATA / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`([^`]+\.jsonl)`\s*\|\s*(\d+)\s*\|\s*(?:(\d+)\s*\|)?", line)
        if m:
            table[m.group(1)] = (int(m.group(2)), int(m.group(3)) if m.group(3) else None)
    return table


def test_the_expected_files_are_there() -> None:
    names = {_rel(p) for p in FILES}
    assert {
        "prompts/everyday.jsonl",
        "prompts/harm_tempting.jsonl",
        "prompts/style.jsonl",
        "prompts/smoke.jsonl",
        "human_labels/trl_format.jsonl",
        "human_labels/trl_conversational.jsonl",
        "human_labels/transcript_format.jsonl",
        "human_labels/style_rule_pairs.jsonl",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_file_has_a_known_schema(path: Path) -> None:
    assert _kind(path) != "unknown", (
        f"data/{_rel(path)}: unknown kind of data file; give it a schema in {Path(__file__).name}"
    )


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_line_is_a_json_object_without_empty_strings(path: Path) -> None:
    for lineno, row in _all_rows(path):
        empty = _empty_strings(row, "row")
        assert not empty, f"data/{_rel(path)}:{lineno}: empty string at {', '.join(empty)}"


def test_ids_are_unique_across_all_files() -> None:
    owners: dict[str, str] = {}
    for path in FILES:
        for lineno, row in _all_rows(path):
            row_id = row.get("id")
            assert isinstance(row_id, str), f"data/{_rel(path)}:{lineno}: 'id' must be a string"
            assert row_id not in owners, (
                f"data/{_rel(path)}:{lineno}: id '{row_id}' is also in {owners[row_id]}"
            )
            owners[row_id] = f"data/{_rel(path)}:{lineno}"


def test_no_prompt_appears_twice_so_heldout_never_leaks_into_train() -> None:
    seen: dict[str, str] = {}
    for path in FILES:
        if _kind(path) not in ("prompts", "smoke", "plain"):
            continue
        for lineno, row in _all_rows(path):
            key = " ".join(row["prompt"].lower().split())
            assert key not in seen, f"data/{_rel(path)}:{lineno}: same prompt as {seen[key]}"
            seen[key] = f"data/{_rel(path)}:{lineno}"


PROMPT_FILES = [p for p in FILES if _kind(p) in ("prompts", "smoke", "plain")]


@pytest.mark.parametrize("path", PROMPT_FILES, ids=_rel)
def test_prompt_rows_have_exactly_the_documented_fields(path: Path) -> None:
    for lineno, row in _all_rows(path):
        where = f"data/{_rel(path)}:{lineno}"
        assert set(row) == {"id", "prompt", "category", "split"}, f"{where}: fields are {sorted(row)}"
        assert all(isinstance(v, str) for v in row.values()), f"{where}: every field must be a string"
        assert row["category"] in CATEGORIES, f"{where}: unknown category {row['category']!r}"
        assert row["split"] in SPLITS, f"{where}: unknown split {row['split']!r}"
        assert row["prompt"] == row["prompt"].strip(), f"{where}: prompt has surrounding whitespace"


@pytest.mark.parametrize("path", [p for p in PROMPT_FILES if _kind(p) == "prompts"], ids=_rel)
def test_category_files_follow_the_every_fifth_line_split_rule(path: Path) -> None:
    rows = _all_rows(path)
    for lineno, row in rows:
        where = f"data/{_rel(path)}:{lineno}"
        assert row["category"] == path.stem, f"{where}: category {row['category']!r} in {path.name}"
        assert row["id"] == f"{ID_PREFIX[path.stem]}{lineno:03d}", f"{where}: id {row['id']!r}"
        expected = "heldout" if lineno % 5 == 0 else "train"
        assert row["split"] == expected, f"{where}: split {row['split']!r}, the rule says {expected!r}"
    heldout = sum(row["split"] == "heldout" for _, row in rows)
    assert 0.15 <= heldout / len(rows) <= 0.25, f"data/{_rel(path)}: {heldout}/{len(rows)} heldout"


def test_smoke_set_is_eight_prompts_six_train_two_heldout_from_every_category() -> None:
    rows = [row for _, row in _all_rows(DATA / "prompts" / "smoke.jsonl")]
    assert len(rows) == 8
    assert Counter(row["split"] for row in rows) == {"train": 6, "heldout": 2}
    assert {row["category"] for row in rows} == CATEGORIES
    assert all(row["id"].startswith("smoke-") for row in rows)
    # short on purpose: the smoke run generates a response to each on CPU
    assert max(len(row["prompt"]) for row in rows) <= 100


def test_readme_lists_every_file_with_its_row_and_heldout_counts() -> None:
    table = _readme_table()
    assert set(table) == {_rel(p) for p in FILES}
    for path in FILES:
        rows = _all_rows(path)
        documented_rows, documented_heldout = table[_rel(path)]
        assert documented_rows == len(rows), f"data/README.md says {documented_rows} rows for {_rel(path)}"
        if _kind(path) in ("prompts", "smoke", "plain"):
            heldout = sum(row["split"] == "heldout" for _, row in rows)
            assert documented_heldout == heldout, f"data/README.md says {documented_heldout} heldout"


def _label_rows(stem: str) -> list[tuple[str, dict[str, Any]]]:
    path = DATA / "human_labels" / f"{stem}.jsonl"
    rows = _all_rows(path)
    for lineno, row in rows:
        assert row.get("id") == f"{LABEL_ID_PREFIX[stem]}{lineno:03d}", f"data/{_rel(path)}:{lineno}: id"
    return [(f"data/{_rel(path)}:{lineno}", row) for lineno, row in rows]


def test_trl_plain_rows() -> None:
    rows = _label_rows("trl_format")
    assert len(rows) >= 30
    for where, row in rows:
        assert set(row) == {"id", "prompt", "chosen", "rejected"}, f"{where}: fields are {sorted(row)}"
        assert all(isinstance(row[k], str) for k in ("prompt", "chosen", "rejected")), where
        assert row["chosen"] != row["rejected"], f"{where}: chosen and rejected are the same"


def test_gold_pairs_are_plain_trl_rows() -> None:
    path = DATA / "gold" / "pairs.jsonl"
    rows = _all_rows(path)
    assert len(rows) >= 40
    for lineno, row in rows:
        where = f"data/{_rel(path)}:{lineno}"
        assert set(row) == {"id", "prompt", "chosen", "rejected"}, f"{where}: fields are {sorted(row)}"
        assert row["id"] == f"gold-{lineno:02d}", f"{where}: id {row['id']!r}"
        assert row["chosen"] != row["rejected"], f"{where}: chosen and rejected are the same"


def test_plain_prompts_are_everyday_with_most_held_out() -> None:
    rows = [row for _, row in _all_rows(DATA / "prompts" / "plain.jsonl")]
    assert all(row["category"] == "everyday" and row["id"].startswith("plain-") for row in rows)
    assert Counter(row["split"] for row in rows) == {"train": 40, "heldout": 64}


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    assert isinstance(value, list) and value, f"{where}: must be a non-empty list of messages"
    for m in value:
        assert isinstance(m, dict) and set(m) == {"role", "content"}, f"{where}: bad message {m!r}"
        assert isinstance(m["content"], str), f"{where}: content must be a string"
    return value


def test_trl_conversational_rows() -> None:
    rows = _label_rows("trl_conversational")
    assert len(rows) >= 8
    multi_turn = 0
    for where, row in rows:
        assert set(row) == {"id", "prompt", "chosen", "rejected"}, f"{where}: fields are {sorted(row)}"
        prompt = _messages(row["prompt"], f"{where} prompt")
        roles = [m["role"] for m in prompt]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"], f"{where}: roles {roles}"
        multi_turn += len(prompt) > 1
        chosen = _messages(row["chosen"], f"{where} chosen")
        rejected = _messages(row["rejected"], f"{where} rejected")
        assert [m["role"] for m in chosen] == ["assistant"], where
        assert [m["role"] for m in rejected] == ["assistant"], where
        assert chosen != rejected, f"{where}: chosen and rejected are the same"
    assert multi_turn >= 2


def _turns(dialogue: str, where: str) -> list[tuple[str, str]]:
    """(speaker, text) of a ``\\n\\nHuman: ...\\n\\nAssistant: ...`` dialogue, checking that speakers alternate."""
    assert dialogue.startswith(HUMAN), f"{where}: must start with {HUMAN!r}"
    pieces = re.split(r"\n\n(Human|Assistant): ", dialogue)
    assert pieces[0] == "", where
    turns = list(zip(pieces[1::2], pieces[2::2], strict=True))
    speakers = [s for s, _ in turns]
    assert speakers == ["Human", "Assistant"] * (len(turns) // 2), f"{where}: speakers {speakers}"
    for speaker, text in turns:
        assert text.strip() and text == text.strip(), f"{where}: a {speaker} turn is empty or padded"
    return turns


def test_transcript_rows_share_a_prefix_and_differ_only_in_the_final_assistant_turn() -> None:
    rows = _label_rows("transcript_format")
    assert len(rows) >= 25
    multi_turn = 0
    for where, row in rows:
        assert set(row) == {"id", "chosen", "rejected"}, f"{where}: fields are {sorted(row)}"
        chosen = _turns(row["chosen"], f"{where} chosen")
        rejected = _turns(row["rejected"], f"{where} rejected")
        assert chosen[:-1] == rejected[:-1], f"{where}: the dialogues differ before the final turn"
        assert chosen[-1] != rejected[-1], f"{where}: the final turns are the same"
        # the shared prefix, as text, is everything up to the last "\n\nAssistant: " of each side
        cut_c, cut_r = row["chosen"].rindex(ASSISTANT), row["rejected"].rindex(ASSISTANT)
        assert row["chosen"][:cut_c] == row["rejected"][:cut_r], f"{where}: prefixes differ"
        multi_turn += len(chosen) > 2
    assert multi_turn >= 3


_FILLER_OPENING = re.compile(
    r"^(sure|certainly|absolutely|of course|great question|what a \w+ question|i'd be happy|i'd love|happy to)\b",
    re.IGNORECASE,
)
_FILLER_CLOSING = re.compile(
    r"(hope (this|that) (helps|clears)|let me know if|feel free to|happy to help)[^.]*[.!]?\s*$",
    re.IGNORECASE,
)
_SHOUTING = re.compile(r"\b[A-Z]{2,}['A-Z]*\b(?:\W+\b[A-Z]{2,}['A-Z]*\b){2,}")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+\.)\s", re.MULTILINE)
_HEDGES = re.compile(
    r"\b(might|may|maybe|perhaps|possibly|probably|could|i think|i believe|hard to say)\b", re.IGNORECASE
)


def _breaks(rule: str, response: str, other: str) -> bool:
    """Whether ``response`` breaks this style rule; ``other`` is the obeying response, for the length rule."""
    if rule == "concise":
        return len(response.split()) >= 2 * len(other.split())
    if rule == "no_filler":
        return bool(_FILLER_OPENING.search(response) or _FILLER_CLOSING.search(response))
    if rule == "no_exclamation":
        return "!" in response
    if rule == "no_shouting":
        return bool(_SHOUTING.search(response))
    if rule == "no_needless_list":
        return bool(_LIST_ITEM.search(response))
    if rule == "no_hedging":
        return len(_HEDGES.findall(response)) >= 4
    raise AssertionError(f"no detector for rule {rule!r}")


def test_style_rule_pairs_chosen_obeys_every_rule_and_rejected_breaks_its_named_rule() -> None:
    rows = _label_rows("style_rule_pairs")
    assert len(rows) >= 15
    for where, row in rows:
        assert set(row) == {"id", "prompt", "chosen", "rejected", "rule"}, (
            f"{where}: fields are {sorted(row)}"
        )
        rule, chosen, rejected = row["rule"], row["chosen"], row["rejected"]
        assert rule in STYLE_RULES, f"{where}: unknown rule {rule!r}"
        for other_rule in STYLE_RULES - {"concise"}:
            assert not _breaks(other_rule, chosen, rejected), f"{where}: chosen breaks {other_rule}"
        assert len(_HEDGES.findall(chosen)) <= 1, f"{where}: chosen hedges"
        assert _breaks(rule, rejected, chosen), f"{where}: rejected does not break {rule}"
    counts = Counter(row["rule"] for _, row in rows)
    assert set(counts) == STYLE_RULES and min(counts.values()) >= 2, counts


def test_the_style_detectors_tell_obeying_from_breaking_text() -> None:
    # the detectors above decide what the data claims, so they must themselves be right on plain cases
    assert _breaks("no_filler", "Sure! It is 4.", "")
    assert _breaks("no_filler", "It is 4. I hope this helps.", "")
    assert not _breaks("no_filler", "Surely the answer is 4.", "")
    assert _breaks("no_shouting", "PLEASE READ THIS NOW", "")
    assert not _breaks("no_shouting", "Tokyo uses JST, UTC+9, all year.", "")
    assert _breaks("no_needless_list", "Answer:\n\n- Rome", "")
    assert not _breaks("no_needless_list", "Rome, in Lazio - the capital.", "")
    assert _breaks("concise", "one two three four", "one two")
    assert not _breaks("concise", "one two three", "one two")
    assert _breaks("no_hedging", "It might, maybe, possibly, perhaps work.", "")
    assert not _breaks("no_hedging", "It works.", "")


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_file_loads_with_the_project_loaders(path: Path) -> None:
    from rlaif.feedback.inputs import load_preferences, load_prompts

    rows = _all_rows(path)
    if _kind(path) in ("prompts", "smoke", "plain"):
        prompts = load_prompts(path)
        assert [p.id for p in prompts] == [row["id"] for _, row in rows]
        assert [p.split for p in prompts] == [row["split"] for _, row in rows]
        assert [p.text for p in prompts] == [row["prompt"] for _, row in rows]
    elif _kind(path) != "unknown":
        pairs = load_preferences(path)
        assert [p.id for p in pairs] == [row["id"] for _, row in rows]
        assert all(p.chosen != p.rejected and p.conversation[-1].role == "user" for p in pairs)
