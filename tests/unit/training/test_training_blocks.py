"""The shared training blocks: response log-probs, checkpoints, schedule, NaN guard, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rlaif.training import (
    Checkpointer,
    LoraSettings,
    MetricsLogger,
    OptimSettings,
    TrainerState,
    TrainingDivergedError,
    attach_lora,
    check_finite,
    count_parameters,
    lr_factor,
    make_optimizer,
    make_scheduler,
    pad_left,
    read_metrics,
    response_mask_left,
    seed_everything,
    token_logprobs,
)


@pytest.fixture()
def tiny_lm(tiny_model_dir: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), use_safetensors=True)


def _naive_logps(model: torch.nn.Module, prompt: list[int], response: list[int]) -> list[float]:
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    return [float(logp[len(prompt) + i - 1, t]) for i, t in enumerate(response)]


def test_token_logprobs_match_one_sequence_at_a_time(tiny_lm: torch.nn.Module) -> None:
    rows = [([5, 6, 7, 8], [9, 10, 11]), ([12, 13], [14]), ([15, 16, 17, 18, 19, 20], [21, 22, 23, 24, 25])]
    seqs = [p + r for p, r in rows]
    ids, mask = pad_left(seqs, pad_id=0)
    rmask = response_mask_left([len(p) for p, _ in rows], [len(s) for s in seqs], ids.shape[1])
    with torch.no_grad():
        logps, ent = token_logprobs(tiny_lm, ids, mask, rmask, with_entropy=True)
    assert ent is not None
    for i, (p, r) in enumerate(rows):
        got = logps[i][rmask[i]].tolist()
        want = _naive_logps(tiny_lm, p, r)
        assert got == pytest.approx(want, abs=1e-5)
        assert (logps[i][~rmask[i]] == 0).all()
        assert (ent[i][rmask[i]] > 0).all()


def test_lr_schedule_shapes() -> None:
    lin = OptimSettings(lr=1.0, warmup_ratio=0.2, schedule="linear")
    assert lr_factor(0, 10, lin) == pytest.approx(1 / 3)
    assert lr_factor(2, 10, lin) == pytest.approx(1.0)
    assert lr_factor(6, 10, lin) == pytest.approx(0.5)
    assert lr_factor(1, 10, OptimSettings(schedule="constant")) == 1.0
    assert lr_factor(5, 10, OptimSettings(schedule="cosine")) == pytest.approx(0.5)


def test_check_finite_names_the_bad_value(tmp_path: Path) -> None:
    check_finite({"loss": 1.0, "t": torch.ones(3)}, step=3)
    with pytest.raises(TrainingDivergedError) as e:
        check_finite({"loss": float("nan"), "ok": 2.0}, step=7, last_checkpoint=tmp_path / "step-5")
    msg = str(e.value)
    assert "loss=nan" in msg and "step 7" in msg and "step-5" in msg and "ok" not in msg.split("diverged")[1]


def _train_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: object, n: int) -> None:
    for _ in range(n):
        x = torch.randint(1, 50, (2, 6))
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        sched.step()  # type: ignore[attr-defined]
        opt.zero_grad()


def test_checkpoint_resume_replays_the_run_exactly(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
        seed_everything(0)
        lm = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), use_safetensors=True)
        model = attach_lora(lm, LoraSettings(r=4, alpha=8, dropout=0.1))
        model.train()
        opt = make_optimizer(model.parameters(), OptimSettings(lr=1e-2))
        return model, opt, make_scheduler(opt, 6, OptimSettings(lr=1e-2))

    model, opt, sched = fresh()
    trainable, total = count_parameters(model)
    assert 0 < trainable < total
    _train_steps(model, opt, sched, 6)
    want = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    model, opt, sched = fresh()
    _train_steps(model, opt, sched, 3)
    ck = Checkpointer(tmp_path, keep=1)
    ck.save(
        model=model, optimizer=opt, scheduler=sched, state=TrainerState(step=3, epoch=0, batch_in_epoch=3)
    )
    del model, opt, sched

    model, opt, sched = fresh()
    torch.manual_seed(1234)  # the restore must overwrite this
    latest = ck.latest()
    assert latest is not None and latest.name == "step-3"
    state = ck.load(latest, model=model, optimizer=opt, scheduler=sched)
    assert state.step == 3 and state.batch_in_epoch == 3
    _train_steps(model, opt, sched, 3)
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, want[n], atol=1e-6), n
    ck.save(model=model, optimizer=opt, scheduler=sched, state=TrainerState(step=6))
    assert [p.name for p in ck.all()] == ["step-6"]


def test_metrics_logger_drops_records_after_the_resume_step(tmp_path: Path) -> None:
    m = MetricsLogger(tmp_path)
    for s in range(1, 5):
        m.log(s, {"loss": torch.tensor([1.0, 3.0]) * s})
    assert [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [2.0, 4.0, 6.0, 8.0]
    with (tmp_path / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 5, "lo')  # torn line from a kill
    m2 = MetricsLogger(tmp_path, resume_step=2)
    m2.log(3, {"loss": 1.5})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 2.0), (2, 4.0), (3, 1.5)]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["phase"] == "train"
