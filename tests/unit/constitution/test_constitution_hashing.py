"""Content hashes: independent of formatting, sensitive to meaning, and pinned for a fixture."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from rlaif.constitution import (
    canonical_json,
    constitution_hash,
    load_constitution,
    load_constitution_text,
    principle_hash,
    short_hash,
)

PINNED_CONSTITUTION = "88df72816dcb74995b326d0ceb230df7d6e27fdec5cad3078ec68229f076c179"
PINNED_FIRST_PRINCIPLE = "8515cf50b13d4b69c2b7010a7da4bc00da494bce6f324b1d890d56470c2ee852"


def test_pinned_hash(fixtures_dir: Path) -> None:
    c = load_constitution(fixtures_dir / "hash_fixture.yaml")
    assert constitution_hash(c) == PINNED_CONSTITUTION
    assert principle_hash(c.principles[0]) == PINNED_FIRST_PRINCIPLE
    assert c.content_hash() == PINNED_CONSTITUTION
    assert c.short_hash() == PINNED_CONSTITUTION[:12] == short_hash(PINNED_CONSTITUTION)
    assert c.principles[0].short_hash() == PINNED_FIRST_PRINCIPLE[:12]


def test_canonical_form_is_what_is_hashed(fixtures_dir: Path) -> None:
    c = load_constitution(fixtures_dir / "hash_fixture.yaml")
    text = canonical_json(c.principles[1])
    assert text == (
        '{"compare":"Which response is kinder?","critique":"Critique the kindness.","id":"second",'
        '"negation":"Which response is less kind?","revision":"Revise for kindness.",'
        '"rule":{"max_words":40,"must_not_match":["!"]}}'
    )
    assert principle_hash(c.principles[1]) == hashlib.sha256(text.encode()).hexdigest()


def test_reformatted_reordered_commented_defaults_spelled_out_same_hash(fixtures_dir: Path) -> None:
    a = load_constitution(fixtures_dir / "hash_fixture.yaml")
    b = load_constitution(fixtures_dir / "hash_fixture_reformatted.yaml")
    assert a == b
    assert constitution_hash(a) == constitution_hash(b)
    assert [principle_hash(p) for p in a.principles] == [principle_hash(p) for p in b.principles]


def test_block_scalar_vs_quoted_same_hash(valid_text: str) -> None:
    quoted = valid_text.replace(
        "    compare: Which response is more helpful?", '    compare: "Which response is more helpful?"'
    )
    folded = valid_text.replace(
        "    compare: Which response is more helpful?",
        "    compare: >-\n      Which response is\n      more helpful?",
    )
    hashes = {constitution_hash(load_constitution_text(t)) for t in (valid_text, quoted, folded)}
    assert len(hashes) == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Which response is more honest?", "Which response is more truthful?"),
        ("    weight: 3", "    weight: 2.5"),
        ("tags: [honest]", "tags: [honest, core]"),
        ("max_words: 10", "max_words: 11"),
        ("negation: Which response is less honest?", "negation: Which response is more dishonest?"),
        ("  - id: beta\n", "  - id: beta\n    version: 2\n"),
        ('must_not_match: ["as an ai"]', 'must_not_match: ["as an ai"]\n      case_sensitive: true'),
    ],
)
def test_any_meaningful_change_changes_the_hash(valid_text: str, old: str, new: str) -> None:
    assert old in valid_text
    before = load_constitution_text(valid_text)
    after = load_constitution_text(valid_text.replace(old, new))
    assert constitution_hash(before) != constitution_hash(after)
    assert principle_hash(before.get("beta")) != principle_hash(after.get("beta"))
    # the untouched principle keeps its hash: only rows that used 'beta' need recomputing
    assert principle_hash(before.get("alpha")) == principle_hash(after.get("alpha"))


def test_principle_order_and_description_are_part_of_the_constitution_hash(valid_text: str) -> None:
    c = load_constitution_text(valid_text)
    swapped = c.model_copy(update={"principles": tuple(reversed(c.principles))})
    assert constitution_hash(swapped) != constitution_hash(c)
    described = c.model_copy(update={"description": "other"})
    assert constitution_hash(described) != constitution_hash(c)


def test_hash_independent_of_python_hash_seed(fixtures_dir: Path) -> None:
    code = (
        "from rlaif.constitution import load_constitution;"
        f"print(load_constitution({str(fixtures_dir / 'hash_fixture.yaml')!r}).content_hash())"
    )
    outs = set()
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        outs.add(out)
    assert outs == {PINNED_CONSTITUTION}
