"""`rlaif train-rm`, `rlaif score` and `rlaif eval rm` end to end on the tiny model, and their user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.cli.main import main

from .conftest import write_labels


def test_train_score_eval(
    tiny_model_dir: Path,
    tmp_path: Path,
    style_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="rlaif")
    labels = write_labels(tmp_path / "labels.jsonl", 10)
    out = tmp_path / "rm"
    common = ["--device", "cpu"]
    rc = main(
        [
            "train-rm",
            "--data",
            str(labels),
            "-c",
            str(style_path),
            "-o",
            str(out),
            "-m",
            str(tiny_model_dir),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--set",
            "optim.lr=0.01",
            "--negation-pairs",
            "--no-progress",
            *common,
        ]
    )
    assert rc == 0
    assert "reward model:" in capsys.readouterr().out
    settings = json.loads((out / "model" / "rlaif.json").read_text())["settings"]
    assert settings["augment"]["negation_pairs"] is True  # the flag reached the trainer
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"prompt": "Q?", "response": "Calm."})
        + "\n"
        + json.dumps({"prompt": "Q?", "response": "LOUD!", "principles": ["no_exclamations"]})
        + "\n"
    )
    scores = tmp_path / "scores.jsonl"
    rc = main(
        [
            "score",
            "-m",
            str(out / "model"),
            "-c",
            str(style_path),
            "-p",
            "concise",
            "--input",
            str(rows),
            "-o",
            str(scores),
            "--normalize",
            *common,
        ]
    )
    assert rc == 0
    said = capsys.readouterr().out
    assert f"scoring 2 responses with {out / 'model'} (cpu, float32)" in caplog.text  # what ran on what
    assert "scored 2 responses in " in said and f"responses/s) -> {scores}" in said
    got = [json.loads(x) for x in scores.read_text().splitlines()]
    assert got[0]["principles_scored"] == ["concise@1"] and got[1]["principles_scored"] == [
        "no_exclamations@1"
    ]
    assert all(isinstance(g["reward"], float) and "reward_normalized" in g for g in got)
    human = tmp_path / "human.jsonl"
    human.write_text(json.dumps({"prompt": "Q?", "chosen": "Calm.", "rejected": "LOUD!"}) + "\n")
    rc = main(
        [
            "eval",
            "rm",
            "-m",
            str(out / "model"),
            "-c",
            str(style_path),
            "--labels",
            str(labels),
            "--human",
            str(human),
            "-p",
            "no_exclamations",
            "-o",
            str(tmp_path / "ev"),
            *common,
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["labels"]["n"] == 10 and report["human"]["n"] == 1 and report["steering"]["n"] == 10
    assert "no_exclamations" in report["per_principle"]
    # the same evaluation from Python: the job the command builds, the same numbers and files
    from rlaif.reward.evaluate import RewardEvalConfig, RewardEvalJob, run_reward_eval

    config = RewardEvalConfig(
        labels=labels, constitution=style_path, human=human, human_principles=["no_exclamations"]
    )
    result = run_reward_eval(
        RewardEvalJob(model=out / "model", out=tmp_path / "ev-py", device="cpu", config=config)
    )
    assert result.paths == {"json": tmp_path / "ev-py/report.json", "markdown": tmp_path / "ev-py/report.md"}
    assert result.report.labels is not None and result.report.labels.n == 10
    assert result.report.to_dict() == report
    for name in ("report.json", "report.md"):
        assert (tmp_path / "ev-py" / name).read_bytes() == (tmp_path / "ev" / name).read_bytes()


def test_eval_rm_with_nothing_to_evaluate_fails_before_loading(tmp_path: Path, style_path: Path) -> None:
    from rlaif.errors import RlaifError
    from rlaif.reward.evaluate import RewardEvalConfig, RewardEvalJob, run_reward_eval

    job = RewardEvalJob(model=tmp_path / "no-model", config=RewardEvalConfig(constitution=style_path))
    with pytest.raises(RlaifError, match="nothing to evaluate"):
        run_reward_eval(job)


def test_bad_labels_and_config_are_clear_errors(
    tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = write_labels(tmp_path / "labels.jsonl", 3, extra={"p_chosen": 2.0})
    rc = main(["train-rm", "--labels", str(labels), "-c", str(style_path), "-o", str(tmp_path / "rm")])
    err = capsys.readouterr().err
    assert rc == 1 and "row 1, column 'p_chosen'" in err and "Traceback" not in err
    cfg = tmp_path / "rm.yaml"
    cfg.write_text(
        f"data: {labels}\nconstitution: {style_path}\noutput_dir: {tmp_path / 'rm'}\nrun:\n  epoch: 2\n"
    )
    rc = main(["train-rm", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 1 and "rm.yaml:5" in err and "run.epoch" in err


def test_score_user_errors_name_what_is_wrong(
    tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "Q?", "response": "A."}\n')
    base = ["score", "-m", str(tmp_path / "no-model"), "-c", str(style_path), "-o", str(tmp_path / "s.jsonl")]

    def err(args: list[str]) -> str:
        assert main([*base, *args]) == 1
        text = capsys.readouterr().err
        assert "Traceback" not in text
        return text

    said = err(["--input", str(tmp_path / "missing.jsonl")])
    assert "missing.jsonl: input file not found" in said
    said = err(["--input", str(rows), "-p", "nonexistent"])
    assert "field '--principle': unknown principle 'nonexistent'" in said and "concise" in said
    said = err(["--input", str(rows), "--chunk-size", "0"])
    assert "field '--chunk-size': Input should be greater than or equal to 1 (got 0)" in said
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"prompt": "Q?"}\nnot json\n[1, 2]\n{"prompt": "Q?", "response": 3}\n'
        '{"prompt": "Q?", "response": "A.", "principles": []}\n'
        '{"prompt": "Q?", "response": "A.", "principles": ["nope"]}\n'
    )
    said = err(["--input", str(bad)])
    assert "bad.jsonl:1: row 1: missing column 'prompt' or 'response'" in said
    assert "bad.jsonl:2: row 2: invalid JSON" in said
    assert "bad.jsonl:3: row 3: not an object" in said
    assert "bad.jsonl:4: row 4: column 'response' must be text" in said
    assert "bad.jsonl:5: row 5: empty principles list" in said
    assert "bad.jsonl:6: row 6: unknown principle 'nope'" in said
    assert not (tmp_path / "s.jsonl").exists()
