"""Rule compliance rates and paired gains."""

from __future__ import annotations

import pytest

from rlaif.constitution import load_constitution
from rlaif.constitution.compliance import compliance_gain, rule_compliance
from rlaif.resources import shipped_dir


def test_compliance_rates_and_gain() -> None:
    style = load_constitution(shipped_dir("principles") / "style.yaml")
    short = next(p for p in style.principles if p.rule is not None and p.rule.max_words is not None)
    assert short.rule is not None and short.rule.max_words is not None
    ok = "word " * max(1, short.rule.max_words // 2)
    too_long = "word " * (short.rule.max_words + 5)
    before = rule_compliance([short], [too_long, too_long, ok, too_long])
    after = rule_compliance([short], [ok, ok, ok, too_long])
    assert before.rate(short.id) == 0.25 and after.rate(short.id) == 0.75
    assert before.rate() == 0.25  # "all" equals the single rule here
    gain = compliance_gain(before, after, short.id)
    assert gain.value == pytest.approx(0.5)
    assert gain.low <= 0.5 <= gain.high
    with pytest.raises(ValueError):
        rule_compliance([p for p in style.principles if p.rule is None][:1] or [], [ok])
