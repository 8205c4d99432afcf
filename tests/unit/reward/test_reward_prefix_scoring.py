"""Reward scoring through the prefix-sharing scorer equals plain padded batches."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from rlaif.reward.model import rewards_of


def _model(tiny_model_dir: Path, *, lora: bool) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=1)
    model.config.pad_token_id = 0
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="SEQ_CLS")
        )
        with torch.no_grad():  # a non-zero adapter, so that it matters
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05)
    return model.eval()


def _sequences() -> list[list[int]]:
    rng = random.Random(0)
    principles = [rng.randrange(3, 90) for _ in range(40)]  # one block every input starts with
    seqs = []
    for _ in range(6):
        conversation = [rng.randrange(3, 90) for _ in range(rng.randrange(5, 20))]
        for _ in range(3):  # three responses to each conversation
            seqs.append(
                principles + conversation + [rng.randrange(3, 90) for _ in range(rng.randrange(1, 30))]
            )
    seqs.append(seqs[0][:50])  # an input that is a prefix of another
    seqs.append(list(seqs[1]))  # a duplicate
    rng.shuffle(seqs)
    return seqs


@pytest.mark.parametrize("lora", [False, True])
def test_shared_prefix_rewards_equal_padded_batches(tiny_model_dir: Path, lora: bool) -> None:
    model = _model(tiny_model_dir, lora=lora)
    seqs = _sequences()
    shared = rewards_of(model, seqs, 0, batch_size=4)
    padded = rewards_of(model, seqs, 0, batch_size=4, share_prefix=False)
    one_by_one = [rewards_of(model, [s], 0, share_prefix=False)[0] for s in seqs]
    assert shared == pytest.approx(padded, abs=1e-4)
    assert shared == pytest.approx(one_by_one, abs=1e-4)
    assert len(set(round(v, 6) for v in shared)) > len(seqs) // 2  # real, different rewards


@pytest.mark.parametrize("share", [True, False])
def test_scoring_progress_bar_counts_every_input(
    tiny_model_dir: Path, share: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import tqdm.auto

    # redraw on every update: with tqdm's default 0.1 s redraw interval a fast run closes (and clears) the bar before
    # it ever draws the final count, so what the test sees would depend on the machine's speed
    monkeypatch.setattr(tqdm.auto, "tqdm", functools.partial(tqdm.auto.tqdm, mininterval=0))
    model = _model(tiny_model_dir, lora=False)
    seqs = _sequences()
    rewards_of(model, seqs, 0, batch_size=4, share_prefix=share, progress=True)
    err = capsys.readouterr().err
    assert "scoring" in err and f"{len(seqs)}/{len(seqs)}" in err and "resp/s" in err
    rewards_of(model, seqs, 0, batch_size=4, share_prefix=share)  # not a terminal: no bar by default
    assert capsys.readouterr().err == ""
