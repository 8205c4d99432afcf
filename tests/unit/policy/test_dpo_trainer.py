"""The DPO trainer on a tiny random model: parameters move, exact resume, export, bad input, CLI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlaif.backends.base import ChatMessage
from rlaif.errors import DataFileError, ModelError, RlaifError
from rlaif.policy import DPOConfig, load_policy, read_preferences, train_dpo
from rlaif.policy.dpo_batch import batch_logps, collate_pairs
from rlaif.policy.dpo_data import PreferenceRow, epoch_batches, tokenize_pairs
from rlaif.policy.dpo_loss import preference_loss
from rlaif.training import LoraSettings, make_optimizer, read_metrics
from rlaif.training.config import OptimSettings


def _write_labels(path: Path, n: int = 12, *, extra: list[dict[str, object]] | None = None) -> Path:
    rows: list[dict[str, object]] = [
        {
            "prompt": f"Question {i}: what is the sun?",
            "chosen": "The sun is a star.",
            "rejected": "The sun is a big ball of fire that is very hot " * (1 + i % 3),
            "p_chosen": 0.9 if i % 2 else 1.0,
            "pair_id": f"p{i}",
            "constitution_hash": "abc123",
        }
        for i in range(n)
    ]
    rows += extra or []
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tiny: Path, labels: Path, out: Path, **run: object) -> DPOConfig:
    return DPOConfig.model_validate(
        {
            "model": str(tiny),
            "labels": str(labels),
            "output_dir": str(out),
            "lora": {"r": 4, "alpha": 8},
            "optim": {"lr": 1e-2},
            "run": {"batch_size": 4, "device": "cpu", **run},
        }
    )


def test_two_steps_move_every_trainable_parameter_and_no_frozen_one(tiny_model_dir: Path) -> None:
    torch.manual_seed(0)
    policy = load_policy(str(tiny_model_dir), lora=LoraSettings(r=4, alpha=8), device="cpu")
    rows = [
        PreferenceRow(f"p{i}", f"Question {i}?", "A star.", "A big ball of fire, very hot.", 0.8)
        for i in range(4)
    ]
    pairs, _ = tokenize_pairs(policy, rows, max_length=128, max_prompt_length=64)
    model = policy.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = make_optimizer(model.parameters(), OptimSettings(lr=1e-2, warmup_ratio=0.0))
    for _ in range(2):
        batch = collate_pairs(pairs, policy.pad_id, indices=[0, 1, 2, 3], layout="shared")
        seq = batch_logps(model, batch)
        with torch.no_grad(), model.disable_adapter():
            ref = batch_logps(model, batch)
        out = preference_loss(seq[:4], seq[4:], ref[:4], ref[4:], batch.p_chosen, beta=0.1)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    for name, p in model.named_parameters():
        changed = not torch.equal(p.detach(), before[name])
        assert changed == (name in trainable), name


def test_train_export_resume_and_metrics(tiny_model_dir: Path, tmp_path: Path) -> None:
    labels = _write_labels(
        tmp_path / "labels.jsonl", extra=[{"prompt": "x", "chosen": "same", "rejected": "same"}]
    )
    full = train_dpo(
        _config(tiny_model_dir, labels, tmp_path / "a", max_steps=4, save_every=2, keep_checkpoints=5),
        progress=False,
    )
    assert full.steps == 4 and full.summary["skipped_identical"] == 1 and full.summary["pairs"] == 12
    model_dir = full.model_dir
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "rlaif.json"} <= {
        p.name for p in model_dir.iterdir()
    }
    card = (model_dir / "README.md").read_text()
    assert "abc123" in card and "labels.jsonl" in card
    records = [r for r in read_metrics(tmp_path / "a" / "metrics.jsonl") if r["phase"] == "train"]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for key in (
        "loss",
        "rewards/margin",
        "rewards/accuracy",
        "kl_estimate",
        "logps/chosen",
        "logps/rejected",
    ):
        assert isinstance(records[-1][key], float)
    # step 1 is computed before any update: a fresh adapter is the reference, so the margin is 0 and the soft
    # cross-entropy is log 2 whatever p is
    assert records[0]["rewards/margin"] == 0.0 and records[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    # every adapter weight moved from its initialisation (B starts at 0; A is random)
    trained = load_file(str(model_dir / "adapter_model.safetensors"))
    assert all(float(t.abs().sum()) > 0 for n, t in trained.items() if "lora_B" in n)

    # kill after step 2 (drop later checkpoints and the export), rerun: identical adapter and metrics
    resumed_dir = tmp_path / "b"
    shutil.copytree(tmp_path / "a", resumed_dir)
    shutil.rmtree(resumed_dir / "checkpoints" / "step-4")
    shutil.rmtree(resumed_dir / "model")
    resumed = train_dpo(
        _config(tiny_model_dir, labels, resumed_dir, max_steps=4, save_every=2, keep_checkpoints=5),
        progress=False,
    )
    assert resumed.steps == 4
    again = load_file(str(resumed.model_dir / "adapter_model.safetensors"))
    for name, t in trained.items():
        assert torch.allclose(t, again[name], atol=1e-6), name
    a = [r["loss"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl")]
    b = [r["loss"] for r in read_metrics(resumed_dir / "metrics.jsonl")]
    assert a == pytest.approx(b, abs=1e-6)


def test_precomputed_reference_gives_the_same_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    labels = _write_labels(tmp_path / "labels.jsonl", n=8)
    on_the_fly = train_dpo(_config(tiny_model_dir, labels, tmp_path / "a", max_steps=2), progress=False)
    cfg = _config(tiny_model_dir, labels, tmp_path / "b", max_steps=2).model_copy(
        update={"precompute_reference": True}
    )
    cached = train_dpo(cfg, progress=False)
    assert (tmp_path / "b" / "reference_logps.safetensors").is_file()
    assert cached.summary["reference"] == "precomputed"
    assert cached.final["loss"] == pytest.approx(on_the_fly.final["loss"], abs=1e-5)


def test_sft_and_ipo_losses_train(tiny_model_dir: Path, tmp_path: Path) -> None:
    labels = _write_labels(tmp_path / "labels.jsonl", n=8)
    for loss in ("sft", "ipo"):
        cfg = _config(tiny_model_dir, labels, tmp_path / loss, max_steps=2).model_copy(update={"loss": loss})
        result = train_dpo(cfg, progress=False)
        assert result.steps == 2 and result.final["loss"] > 0


def test_bad_labels(tiny_model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"prompt": "hi", "chosen": "a"}) + "\n")
    with pytest.raises(DataFileError, match=r"lacks the column.*rejected"):
        read_preferences(missing)
    identical = tmp_path / "identical.jsonl"
    identical.write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "a"}) + "\n")
    with pytest.raises(DataFileError, match=r"no usable pairs.*1 skipped"):
        read_preferences(identical)
    bad_p = _write_labels(
        tmp_path / "bad_p.jsonl",
        n=1,
        extra=[{"prompt": "q", "chosen": "a", "rejected": "b", "p_chosen": 1.5}],
    )
    with pytest.raises(DataFileError) as info:
        read_preferences(bad_p)
    assert info.value.problem.line == 2 and "p_chosen" in info.value.problem.message
    assert (
        read_preferences(missing, need_rejected=False).rows[0].chosen == "a"
    )  # SFT needs no rejected column


def test_sft_reads_conversational_messages_rows(tmp_path: Path) -> None:
    """`rlaif revise` writes SFT rows as messages (user turns, then the revised answer); SFT reads them directly."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Blue."},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a fruit."},
                {"role": "assistant", "content": "A pear."},
            ]
        },
    ]
    good = tmp_path / "sft.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = read_preferences(good, need_rejected=False)
    assert [r.chosen for r in data.rows] == ["Blue.", "A pear."]
    assert [m.role for m in data.rows[1].prompt] == ["system", "user"]  # type: ignore[union-attr]
    assert data.rows[1].prompt[1].content == "Name a fruit."  # type: ignore[union-attr,index]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
    with pytest.raises(DataFileError) as info:
        read_preferences(bad, need_rejected=False)
    assert info.value.problem.line == 1 and "chosen" in info.value.problem.message
    with pytest.raises(DataFileError, match=r"lacks the column"):  # DPO still needs preference columns
        read_preferences(good)


def test_truncation_is_counted_and_chat_template_required(tiny_model_dir: Path) -> None:
    policy = load_policy(str(tiny_model_dir), device="cpu")
    rows = [
        PreferenceRow("long", "word " * 200, "short answer", "another answer", 1.0),
        PreferenceRow("ok", "hi", "x " * 100, "y", 1.0),
    ]
    pairs, trunc = tokenize_pairs(policy, rows, max_length=64, max_prompt_length=32)
    assert trunc.prompts == 1 and trunc.responses == 1
    assert len(pairs[0].prompt_ids) == 32
    full_prompt = policy.encode_prompt((ChatMessage("user", "word " * 200),))
    assert pairs[0].prompt_ids == full_prompt[-32:]  # cut from the left: the end of the prompt survives
    assert all(p.length <= 64 for p in pairs)
    policy.tokenizer.chat_template = None
    conv = [PreferenceRow("c", (ChatMessage("user", "hi"),), "a", "b", 1.0)]
    with pytest.raises(ModelError, match="no chat template"):
        tokenize_pairs(policy, conv, max_length=64, max_prompt_length=32)


def test_epoch_batches_are_deterministic_and_bucketed() -> None:
    lengths = [i % 7 * 10 + 5 for i in range(64)]
    a = epoch_batches(lengths, 4, seed=1, epoch=0)
    assert a == epoch_batches(lengths, 4, seed=1, epoch=0) and a != epoch_batches(lengths, 4, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(64))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in a)
    unbucketed = epoch_batches(lengths, 4, seed=1, epoch=0, bucket=False)
    assert spread < sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in unbucketed)


def test_cli_config_overrides_and_errors(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlaif.cli.main import main

    labels = _write_labels(tmp_path / "labels.jsonl", n=8)
    config = tmp_path / "dpo.yaml"
    config.write_text(f"model: {tiny_model_dir}\nbeta: 0.2\nlora:\n  r: 4\nrun:\n  batch_size: 4\n")
    rc = main(["train-policy", "--method", "dpo", "--config", str(config), "--labels", str(labels), "-o", str(tmp_path / "out"),
               "-s", "run.max_steps=1", "-s", "loss=ipo", "--device", "cpu", "--no-progress"])  # fmt: skip
    assert rc == 0
    assert "trained 1 steps" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "out" / "model" / "rlaif.json").read_text())
    assert sidecar["config"]["loss"] == "ipo" and sidecar["config"]["beta"] == 0.2
    config.write_text(f"model: {tiny_model_dir}\nlora:\n  rank: 4\n")
    rc = main(["train-policy", "--config", str(config), "--labels", str(labels), "-o", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 1 and "dpo.yaml:3" in err and "rank" in err and "Traceback" not in err
    with pytest.raises(RlaifError, match="not key=value"):
        from rlaif.cli.train_policy import parse_override

        parse_override("beta")
