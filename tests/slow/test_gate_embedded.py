"""The critic gate stops the embedded SmolLM2-135M critic on the shipped gold set (slow: about 2 minutes on 2 CPU
cores). The numbers it measures are printed; docs/critics.md records them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlaif.constitution import load_constitution
from rlaif.evals.gate import CriticGateError, GateSettings, enforce, run_gate
from rlaif.prompting import TemplateSet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smollm2(embedded_model: Any) -> Iterator[Any]:
    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(embedded_model, device="cpu", dtype="float32", progress=False)
    yield backend
    backend.close()


def test_the_gate_stops_the_embedded_critic(smollm2: Any, tmp_path: Path) -> None:
    hhh = load_constitution(ROOT / "principles/hhh.yaml")
    result = run_gate(smollm2, TemplateSet.load(), hhh, GateSettings())
    print(result.message(), result.position_bias, result.length_verdict)
    assert result.n == 48 and result.n_labeled == 48
    assert result.accuracy is not None and result.accuracy.low < 0.6 and not result.passed
    assert result.position_bias is not None and result.position_bias.value > 0.8
    # the stage's entry point raises; on the first 16 gold pairs, to keep the slow suite short
    lines = (ROOT / "data/gold/pairs.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "gold16.jsonl").write_text("".join(lines[:16]), encoding="utf-8")
    with pytest.raises(CriticGateError, match="fails on the gold set"):
        enforce(run_gate(smollm2, TemplateSet.load(), hhh, GateSettings(gold=str(tmp_path / "gold16.jsonl"))))
