"""``rlaif eval judge --reward-model``: a tiny trained reward model scores pairwise and best-of-n rows."""

from __future__ import annotations

import json
from pathlib import Path

from rlaif.resources import shipped_dir

DATA = Path(__file__).resolve().parents[2] / "data" / "judge_bench"


def test_reward_model_scores_pairs_and_best_of_n(tiny_model_dir: Path, tmp_path: Path) -> None:
    from rlaif.cli.main import main
    from rlaif.reward import RewardConfig, train_reward_model
    from rlaif.training import OptimSettings, RunSettings

    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"Q{i}?",
                    "chosen": "A calm answer.",
                    "rejected": "SHOUT! " * (1 + i % 3),
                    "p_chosen": 0.9,
                    "principles": ["no_exclamations@1"],
                    "prompt_id": f"q{i}",
                    "pair_id": f"q{i}:0-1",
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    cfg = RewardConfig(
        data=labels,
        constitution=shipped_dir("principles") / "style.yaml",
        output_dir=tmp_path / "rm",
        model=str(tiny_model_dir),
        optim=OptimSettings(lr=1e-2),
        val_fraction=0.0,
        run=RunSettings(batch_size=4, epochs=1, device="cpu"),
    )
    model_dir = train_reward_model(cfg, progress=False).model_dir
    style = shipped_dir("principles") / "style.yaml"
    for name in ("rewardbench", "mtbench"):
        out = tmp_path / name
        code = main(
            [
                "eval",
                "judge",
                str(DATA / f"{name}.jsonl"),
                "-c",
                str(style),
                "--reward-model",
                str(model_dir),
                "--device",
                "cpu",
                "-p",
                "no_exclamations",
                "-o",
                str(out),
            ]
        )
        assert code == 0
        report = json.loads((out / "report.json").read_text())
        names = {r["name"] for r in report["rows"]}
        assert "reward model" in report["header"]["judge"]
        assert "position bias" not in names  # a reward model has no order
        if name == "rewardbench":
            assert names == {"best-of-n accuracy"}
        else:
            assert "accuracy" in names and report["n_labeled"] == 3
