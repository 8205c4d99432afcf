"""Reward-model inputs: rendering with principles, left truncation of the conversation (counted), bad templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError, TemplateError
from rlaif.prompting import TemplateSet
from rlaif.reward import RewardInputEncoder, augment_pair, negate_principle, with_negation_pairs
from rlaif.reward.config import AugmentSettings
from rlaif.reward.data import RewardRow
from rlaif.testing import build_tiny_tokenizer


@pytest.fixture
def principle(style_path: Path):  # type: ignore[no-untyped-def]
    return load_constitution(style_path).get("no_exclamations")


def test_renders_principles_conversation_and_response(principle) -> None:  # type: ignore[no-untyped-def]
    enc = RewardInputEncoder(build_tiny_tokenizer(), TemplateSet.load(), max_length=512)
    text = enc.render([principle], "How are you?", "Fine, thanks.")
    assert "- no_exclamations: Which response states things calmly" in text
    assert text.index("no_exclamations") < text.index("How are you?") < text.index("Fine, thanks.")
    assert text.endswith("</response>")
    negated = enc.render([negate_principle(principle)], "How are you?", "Fine.")
    assert "relies more on exclamation marks" in negated


def test_long_conversation_is_cut_from_the_left_and_counted(principle) -> None:  # type: ignore[no-untyped-def]
    tok = build_tiny_tokenizer()
    enc = RewardInputEncoder(tok, TemplateSet.load(), max_length=260)
    old = " ".join(f"word{i}" for i in range(200))
    convo = (
        ChatMessage("user", old),
        ChatMessage("assistant", "Sure."),
        ChatMessage("user", "And the answer is?"),
    )
    ids = enc.encode([principle], convo, "The answer is B.")
    assert len(ids) <= 260
    text = tok.decode(ids)
    assert "word0 " not in text and "And the answer is?" in text and "The answer is B." in text
    assert enc.stats.conversation_truncated == 1 and enc.stats.response_truncated == 0
    short = enc.encode([principle], "Hi?", "Hello.")
    assert tok.decode(short) == enc.render([principle], "Hi?", "Hello.")
    assert enc.stats.as_dict() == {"inputs": 2, "conversation_truncated": 1, "response_truncated": 0}


def test_overlong_response_is_cut_at_its_end_after_the_conversation(principle) -> None:  # type: ignore[no-untyped-def]
    tok = build_tiny_tokenizer()
    enc = RewardInputEncoder(tok, TemplateSet.load(), max_length=260)
    ids = enc.encode([principle], "Question?", "start " + "blah " * 300)
    assert len(ids) <= 260
    assert tok.decode(ids).endswith("</response>") and "start" in tok.decode(ids)
    assert enc.stats.response_truncated == 1 and enc.stats.conversation_truncated == 1
    tiny = RewardInputEncoder(tok, TemplateSet.load(), max_length=60)
    with pytest.raises(RlaifError, match="principles and template alone"):
        tiny.encode([principle], "Q?", "A.")


def test_empty_principles_are_refused(principle) -> None:  # type: ignore[no-untyped-def]
    enc = RewardInputEncoder(build_tiny_tokenizer(), TemplateSet.load(), max_length=512)
    with pytest.raises(RlaifError, match="empty principles list"):
        enc.encode([], "Q?", "A.")


def test_template_with_other_variables_is_refused(tmp_path: Path) -> None:
    (tmp_path / "my_rm.j2").write_text("{{ principle.compare }} {{ response | neutralize }} {{ extra }}")
    with pytest.raises(TemplateError) as e:
        RewardInputEncoder(
            build_tiny_tokenizer(), TemplateSet.load(tmp_path), template="my_rm", max_length=64
        )
    assert "extra, principle" in str(e.value) and "never reads principles" in str(e.value)


def test_negation_needs_a_negation_text(principle) -> None:  # type: ignore[no-untyped-def]
    plain = principle.model_copy(update={"negation": None})
    with pytest.raises(RlaifError, match="no negation text"):
        negate_principle(plain)


def _pair(principles: tuple, row: int = 1, p: float = 0.8) -> RewardRow:
    return RewardRow(row, f"p{row}", f"q{row}", (ChatMessage("user", "Q?"),), "a", "b", p, principles)


def test_augmentations_are_deterministic_and_do_what_they_say(style_path: Path) -> None:
    style = load_constitution(style_path)
    three = tuple(style.principles[:3])
    off = augment_pair(_pair(three), AugmentSettings(), seed=0, epoch=0)
    assert (off.principles, off.p_chosen, off.negated, off.noised) == (three, 0.8, False, False)

    neg = [
        augment_pair(_pair(three, r), AugmentSettings(negation_prob=1.0), seed=0, epoch=0) for r in range(5)
    ]
    assert all(a.negated and a.p_chosen == pytest.approx(0.2) for a in neg)
    assert [q.compare for q in neg[0].principles] == [q.negation for q in three]

    settings = AugmentSettings(principle_subset=True, negation_prob=0.5, label_noise=0.2)
    views = [augment_pair(_pair(three, r), settings, seed=1, epoch=e) for r in range(200) for e in range(2)]
    again = [augment_pair(_pair(three, r), settings, seed=1, epoch=e) for r in range(200) for e in range(2)]
    assert views == again
    assert all(1 <= len(v.principles) <= 3 for v in views)
    assert len({len(v.principles) for v in views}) == 3
    assert 0.40 < sum(v.negated for v in views) / len(views) < 0.60
    assert 0.12 < sum(v.noised for v in views) / len(views) < 0.28
    # the label follows: negation and noise each flip it
    for v in views:
        flips = v.negated + v.noised
        assert v.p_chosen == pytest.approx(0.8 if flips % 2 == 0 else 0.2)


def test_negation_pairs_add_the_opposite_view_of_each_pair(style_path: Path) -> None:
    style = load_constitution(style_path)
    two = tuple(style.principles[:2])
    plain = augment_pair(_pair(two, 1), AugmentSettings(), seed=0, epoch=0)
    negated = augment_pair(_pair(two, 2), AugmentSettings(negation_prob=1.0), seed=0, epoch=0)
    no_neg = two[0].model_copy(update={"negation": None})
    lone = augment_pair(_pair((no_neg,), 3), AugmentSettings(), seed=0, epoch=0)
    out = with_negation_pairs([plain, negated, lone])
    assert out[:3] == [plain, negated, lone]  # the originals first, in order
    assert len(out) == 5  # the principle without a negation text is seen once
    flip_plain, flip_negated = out[3], out[4]
    assert flip_plain.pair is plain.pair and flip_plain.negated and flip_plain.p_chosen == pytest.approx(0.2)
    assert [q.compare for q in flip_plain.principles] == [q.negation for q in two]
    # the counterpart of a negated view is the original principles, label back to p
    assert flip_negated.principles == two and not flip_negated.negated
    assert flip_negated.p_chosen == pytest.approx(0.8)


def test_training_checks_the_template_before_reading_data_or_loading_a_model(
    tmp_path: Path, style_path: Path
) -> None:
    from rlaif.reward import RewardConfig, train_reward_model

    (tmp_path / "rm_input.j2").write_text("{{ principles }} {{ respnse }}")
    config = RewardConfig(
        data=tmp_path / "no-labels.jsonl",  # neither exists: the template error must come first
        constitution=style_path,
        output_dir=tmp_path / "rm",
        model=str(tmp_path / "no-model"),
        templates=tmp_path,
    )
    with pytest.raises(TemplateError) as e:
        train_reward_model(config, progress=False)
    message = str(e.value)
    assert "uses variables it is not given: respnse" in message and "never reads response" in message
    assert not (tmp_path / "rm").exists()
