"""The top-level API: one import judges a pair."""

from __future__ import annotations

import rlaif
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.resources import shipped_dir


def test_judge_pair_with_the_mock_critic_gives_both_orders_per_principle() -> None:
    constitution = rlaif.load_constitution(shipped_dir("principles") / "hhh.yaml")
    critic = rlaif.make_backend("mock")
    label = rlaif.judge_pair(critic, constitution, "How many moons?", "Sixteen.", "Exactly 42.", k=2, seed=0)
    assert isinstance(label, SoftLabel)
    assert len(label.judgements) == 2
    assert len({j.principle_id for j in label.judgements}) == 2
    for j in label.judgements:
        assert 0.0 < j.p_ab < 1.0 and 0.0 < j.p_ba < 1.0
    # the same seed draws the same principles
    again = rlaif.judge_pair(critic, constitution, "How many moons?", "Sixteen.", "Exactly 42.", k=2, seed=0)
    assert [j.principle_id for j in again.judgements] == [j.principle_id for j in label.judgements]


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        rlaif.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")
