"""The shared seed and hash helpers give exactly the values the per-module copies gave (runs reproduce)."""

from __future__ import annotations

from rlaif.constitution import short_hash
from rlaif.constitution.hashing import short
from rlaif.feedback.labeler import principle_seed
from rlaif.feedback.responses import prompt_seed
from rlaif.feedback.revise import derive_seed as revise_derive_seed
from rlaif.feedback.scores import item_seed
from rlaif.seeds import crc32_seed, derive_seed, item_seed63


def test_seed_values_are_pinned() -> None:
    # values computed by the per-module functions before they were merged into rlaif.seeds
    assert derive_seed(7, "p1", 2, "critique") == 342206966
    assert revise_derive_seed(7, "p1", 2, "critique") == 342206966
    assert item_seed(7, "i9") == 2085959438 == derive_seed(7, "i9", "score")
    assert prompt_seed(7, "p1") == 2060541412993866925 == item_seed63(7, "p1")
    assert principle_seed(7, "pair-3") == 3030051234599325509 == item_seed63(7, "pair-3")


def test_crc32_seed_is_pinned() -> None:
    # the value the mock backend's, the agreement evaluation's, the judge benchmark's and the extractor's copies gave
    assert crc32_seed(7, "order", "pair-3") == 3544278163
    # lone surrogates (from surrogateescape'd text) hash instead of raising
    assert crc32_seed("é\udc80", 3) == 1123630046


def test_one_short_hash() -> None:
    full = "0123456789abcdef" * 4
    assert short_hash(full) == short(full) == "0123456789ab"
    assert short is short_hash
