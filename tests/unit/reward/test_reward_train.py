"""Training on the tiny random model: export layout, loading as plain transformers/peft, scoring, exact resume,
the NaN guard and early stopping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from rlaif.constitution import load_constitution
from rlaif.reward import RewardConfig, RewardModel, train_reward_model
from rlaif.training import OptimSettings, RunSettings, TrainingDivergedError

from .conftest import write_labels


def _config(tmp_path: Path, model: Path, labels: Path, style: Path, **kw: Any) -> RewardConfig:
    run = kw.pop("run", RunSettings(batch_size=4, epochs=2, device="cpu", save_every=2))
    return RewardConfig(
        data=labels,
        constitution=style,
        output_dir=tmp_path / kw.pop("name", "rm"),
        model=str(model),
        optim=OptimSettings(lr=1e-2),
        run=run,
        **kw,
    )


def _train_one_epoch(tmp_path: Path, model: Path, labels: Path, style: Path) -> Any:
    run = RunSettings(batch_size=4, epochs=1, device="cpu")
    return train_reward_model(
        _config(tmp_path, model, labels, style, run=run, val_fraction=0.0), progress=False
    )


def test_trains_exports_and_loads_as_plain_peft(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, tiny_model_dir, labels_file, style_path, val_fraction=0.2)
    result = train_reward_model(cfg, progress=False)
    folder = result.model_dir
    names = {p.name for p in folder.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "rlaif.json",
        "rm_input.j2",
        "_conversation.j2",
        "README.md",
    } <= names
    sidecar = json.loads((folder / "rlaif.json").read_text())
    style = load_constitution(style_path)
    assert sidecar["constitution_hash"] == style.content_hash()
    assert sidecar["principles"] == ["no_exclamations@1"]
    assert (
        set(sidecar["norm_stats"]) == {"mean", "std", "n"}
        and sidecar["norm_stats"]["n"] == 2 * result.summary["train_pairs"]
    )
    assert len(sidecar["data_hash"]) == 64 and sidecar["settings"]["optim"]["lr"] == 1e-2
    assert result.summary["val_pairs"] == 2 and result.summary["train_pairs"] == 10
    assert json.loads((folder / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"

    rm = RewardModel.load(folder, device="cpu")
    p = style.get("no_exclamations")
    calm, shout = rm.score([[p], [p]], ["Question number 1?"] * 2, ["A calm answer.", "SHOUTING! SHOUTING!"])
    assert calm > shout  # learnt the training preference
    norm = rm.score([[p]], ["Question number 1?"], ["A calm answer."], normalize=True)[0]
    assert norm == pytest.approx(
        (calm - sidecar["norm_stats"]["mean"]) / sidecar["norm_stats"]["std"], abs=1e-5
    )

    # The same folder as a plain peft sequence classifier (what PPO's value model loads), right-padded batch.
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=1)
    base.config.pad_token_id = 0
    plain = PeftModel.from_pretrained(base, str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    texts = [
        rm.encoder.render([p], "Question number 1?", r) for r in ("A calm answer.", "SHOUTING! SHOUTING!")
    ]
    batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        logits = plain(**batch).logits[:, 0].tolist()
    assert logits == pytest.approx([calm, shout], abs=1e-4)


def test_merged_export_scores_like_the_adapter(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    run = RunSettings(batch_size=4, epochs=1, device="cpu")
    a = train_reward_model(
        _config(tmp_path, tiny_model_dir, labels_file, style_path, run=run, name="a", val_fraction=0.0),
        progress=False,
    )
    m = train_reward_model(
        _config(
            tmp_path, tiny_model_dir, labels_file, style_path, run=run, name="m", val_fraction=0.0, merge=True
        ),
        progress=False,
    )
    assert (m.model_dir / "model.safetensors").is_file() and not (
        m.model_dir / "adapter_config.json"
    ).exists()
    from transformers import AutoModelForSequenceClassification

    merged = AutoModelForSequenceClassification.from_pretrained(str(m.model_dir))
    assert merged.config.num_labels == 1 and merged.config.pad_token_id == 0
    p = load_constitution(style_path).get("no_exclamations")
    args = (
        [[p]] * 3,
        ["Q?", "Question number 2?", "Hi"],
        ["Calm.", "LOUD! LOUD!", "A much longer calm answer here."],
    )
    assert RewardModel.load(m.model_dir, device="cpu").score(*args) == pytest.approx(
        RewardModel.load(a.model_dir, device="cpu").score(*args), abs=1e-4
    )


def test_adapter_is_merged_for_float32_scoring_only(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    result = _train_one_epoch(tmp_path, tiny_model_dir, labels_file, style_path)
    p = load_constitution(style_path).get("no_exclamations")
    args = ([[p]] * 3, ["Q?", "Question number 2?", "Hi"], ["Calm.", "LOUD! LOUD!", "A longer calm answer."])
    merged = RewardModel.load(result.model_dir, device="cpu")
    kept = RewardModel.load(result.model_dir, device="cpu", merge_adapter=False)
    half = RewardModel.load(result.model_dir, device="cpu", dtype="bfloat16")
    # float32: the LoRA update is folded into the weights (no lora_ modules left); False keeps it trainable
    assert not any("lora_" in n for n, _ in merged.model.named_parameters())
    assert any("lora_" in n for n, _ in kept.model.named_parameters())
    assert any(
        "lora_" in n for n, _ in half.model.named_parameters()
    )  # 16-bit: not merged (would round it away)
    assert merged.score(*args) == pytest.approx(kept.score(*args), abs=1e-5)
    assert half.score(*args) == pytest.approx(kept.score(*args), abs=0.1)
    # the value model of PPO loads the same folder with its adapter trainable
    from rlaif.policy.rewards import load_reward_model

    value = load_reward_model(result.model_dir, device="cpu", trainable=True)
    assert any("lora_" in n for n, _ in value.model.named_parameters())  # type: ignore[attr-defined]


def test_batched_scores_equal_one_by_one(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    result = _train_one_epoch(tmp_path, tiny_model_dir, labels_file, style_path)
    rm = RewardModel.load(result.model_dir, device="cpu")
    p = load_constitution(style_path).get("no_exclamations")
    responses = ["Short.", "A somewhat longer answer with more words in it.", "LOUD!", "x " * 40]
    batched = rm.score([[p]] * 4, ["Q?"] * 4, responses, batch_size=4)
    single = [rm.score([[p]], ["Q?"], [r], batch_size=1)[0] for r in responses]
    assert batched == pytest.approx(single, abs=1e-4)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_killed_mid_epoch_resumes_to_the_same_weights(
    tiny_model_dir: Path, tmp_path: Path, style_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = write_labels(tmp_path / "l.jsonl", 12)
    run = RunSettings(batch_size=2, epochs=2, device="cpu", save_every=2)
    kw: dict[str, Any] = {"run": run, "val_fraction": 0.0}
    from rlaif.reward.config import AugmentSettings

    kw["augment"] = AugmentSettings(negation_prob=0.5, label_noise=0.1)
    whole = train_reward_model(
        _config(tmp_path, tiny_model_dir, labels, style_path, name="whole", **kw), progress=False
    )

    import rlaif.reward.train as train_mod

    original = train_mod.Checkpointer.save

    def save_then_die(self: Any, **k: Any) -> Path:
        path = original(self, **k)
        if k["state"].step == 4:  # 4 of 6 steps into epoch 0
            raise KeyboardInterrupt("killed")
        return path

    monkeypatch.setattr(train_mod.Checkpointer, "save", save_then_die)
    cfg = _config(tmp_path, tiny_model_dir, labels, style_path, name="killed", **kw)
    with pytest.raises(KeyboardInterrupt):
        train_reward_model(cfg, progress=False)
    assert not (cfg.export_dir).exists()
    monkeypatch.setattr(train_mod.Checkpointer, "save", original)
    resumed = train_reward_model(cfg, progress=False)
    assert resumed.steps == whole.steps == 12
    a, b = _weights(whole.model_dir), _weights(resumed.model_dir)
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    lines = lambda r: [json.loads(x) for x in (r.output_dir / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [x["step"] for x in lines(whole)] == [x["step"] for x in lines(resumed)]
    assert [x["loss"] for x in lines(whole)] == pytest.approx([x["loss"] for x in lines(resumed)], abs=1e-6)


def test_nan_loss_stops_with_a_clear_error(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.reward.train as train_mod

    real = train_mod.forward_rewards
    monkeypatch.setattr(train_mod, "forward_rewards", lambda *a: real(*a) * float("nan"))
    with pytest.raises(TrainingDivergedError) as e:
        train_reward_model(
            _config(tmp_path, tiny_model_dir, labels_file, style_path, val_fraction=0.0), progress=False
        )
    assert "diverged at step 1" in str(e.value) and "loss=nan" in str(e.value)
    assert "no checkpoint was written yet" in str(e.value)


def test_early_stopping_exports_the_best_step(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.reward.train as train_mod

    losses = iter([1.0, 0.5, 0.7, 0.9, 1.2, 1.3, 1.4])
    monkeypatch.setattr(
        train_mod, "evaluate_pairs", lambda *a, **k: {"loss": next(losses), "accuracy": 0.5, "pairs": 2.0}
    )
    run = RunSettings(batch_size=2, epochs=5, device="cpu", save_every=100)
    cfg = _config(
        tmp_path,
        tiny_model_dir,
        labels_file,
        style_path,
        run=run,
        val_fraction=0.2,
        eval_every=1,
        early_stopping_patience=2,
    )
    result = train_reward_model(cfg, progress=False)
    assert result.summary["early_stopped"] is True
    assert result.steps == 4 and result.summary["best_step"] == 2
    assert json.loads((result.model_dir / "rlaif.json").read_text())["best_step"] == 2


def test_a_separate_validation_file_is_scored_on_its_own_rows(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    # Its rows are numbered 1.. like the training file's, with other texts: the encodings must not be shared.
    val_file = write_labels(tmp_path / "val.jsonl", 4)
    val_file.write_text(val_file.read_text().replace("A calm answer.", "Quiet words, nothing more."))
    cfg = _config(tmp_path, tiny_model_dir, labels_file, style_path, val_data=val_file)
    result = train_reward_model(cfg, progress=False)

    from rlaif.reward.data import load_reward_pairs
    from rlaif.reward.train import _Batcher, evaluate_pairs

    rm = RewardModel.load(result.model_dir, device="cpu")
    pairs = load_reward_pairs(val_file, load_constitution(style_path))
    fresh = evaluate_pairs(rm.model, _Batcher(rm.encoder, rm.pad_id), pairs, cfg, "cpu")
    assert result.summary["validation"]["loss"] == pytest.approx(fresh["loss"], rel=1e-5)


def test_tensorboard_tracker_receives_the_training_curves(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunSettings(batch_size=4, epochs=1, device="cpu", trackers=["tensorboard"], log_every=1)
    result = train_reward_model(
        _config(tmp_path, tiny_model_dir, labels_file, style_path, run=run, val_fraction=0.2), progress=False
    )
    events = sorted((tmp_path / "rm").rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file written"
    scalars: dict[str, list[tuple[int, float]]] = {}
    for folder in {e.parent for e in events}:  # scalars in the run's folder, hyperparameters in a sub-folder
        acc = EventAccumulator(str(folder))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars[tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    assert {"train/loss", "train/accuracy", "train/lr", "val/loss", "val/accuracy"} <= set(scalars)
    # the same curve as metrics.jsonl, step for step
    from rlaif.training import read_metrics

    logged = [
        (r["step"], r["loss"])
        for r in read_metrics(result.output_dir / "metrics.jsonl")
        if r["phase"] == "train"
    ]
    assert len(logged) == 3 and [s for s, _ in scalars["train/loss"]] == [s for s, _ in logged]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([v for _, v in logged], rel=1e-6)
