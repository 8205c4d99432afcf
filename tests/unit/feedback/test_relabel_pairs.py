"""rlaif label --pairs: relabel an existing preference dataset (TRL rows or transcript rows) under a constitution;
--format plain/conversational, --keep-ties, and a fast clear error for a hub dataset id while offline."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from rlaif.cli.main import main
from rlaif.errors import DataFileError
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.relabel import original_agreement, response_sets_from_pairs
from rlaif.resources import shipped_dir

STYLE = shipped_dir("principles") / "style.yaml"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def trl_pairs(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "trl.jsonl",
        [
            # original labels: the shouting answer was "chosen" in row a (the rule will reverse it)
            {"id": "a", "prompt": "Say hello.", "chosen": "HELLO!!! HI!!!", "rejected": "Hello."},
            {
                "id": "b",
                "prompt": [{"role": "user", "content": "Say bye."}],
                "chosen": [{"role": "assistant", "content": "Bye."}],
                "rejected": [{"role": "assistant", "content": "BYE!!!"}],
            },
        ],
    )


@pytest.fixture
def transcript_pairs(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "hh.jsonl",
        [
            {
                "chosen": "\n\nHuman: Tell me a fact.\n\nAssistant: Water boils at 100 degrees.",
                "rejected": "\n\nHuman: Tell me a fact.\n\nAssistant: WATER BOILS!!!",
            }
        ],
    )


def test_pairs_become_two_response_sets(trl_pairs: Path, transcript_pairs: Path) -> None:
    sets = response_sets_from_pairs(trl_pairs)
    assert [s.prompt.id for s in sets] == ["a", "b"]
    assert sets[0].responses == ("HELLO!!! HI!!!", "Hello.") and sets[1].responses == ("Bye.", "BYE!!!")
    [hh] = response_sets_from_pairs(transcript_pairs)
    assert hh.prompt.conversation[0].content == "Tell me a fact."
    assert hh.responses == ("Water boils at 100 degrees.", "WATER BOILS!!!")
    assert original_agreement([{"index_chosen": 0}, {"index_chosen": 1}, {"index_chosen": 1}]) == {
        "kept_original": 1,
        "reversed_original": 2,
    }


def test_cli_relabels_trl_rows_under_the_rules(trl_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "relabelled"
    code = main(
        [
            "label",
            "--pairs",
            str(trl_pairs),
            "-o",
            str(out),
            "--constitution",
            str(STYLE),
            "--label-source",
            "rules",
            "-k",
            "2",
            "--tag",
            "tone",
            "--no-cache",
            "--no-progress",
        ]
    )
    assert code == 0
    rows = sorted(read_rows(out), key=lambda r: r["pair_id"])
    # the tone rules (no shouting, no exclamations) reverse row a's original label and keep row b's
    assert [(r["pair_id"], r["index_chosen"]) for r in rows] == [("a:0-1", 1), ("b:0-1", 0)]
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "Hello."}]  # conversational by default
    assert rows[0]["prompt"] == [{"role": "user", "content": "Say hello."}]
    # no_exclamations decides (1 or 0), no_shouting ties (three capital words in a row are needed): p = 0.75
    assert all(r["p_chosen"] == 0.75 and r["margin"] == pytest.approx(math.log(3)) for r in rows)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"] == 2 and stats["ties_dropped"] == 0
    assert (out / "README.md").is_file() and (out / "unlabeled.jsonl").is_file()


def test_plain_format_and_keep_ties(tmp_path: Path) -> None:
    pairs = _write(
        tmp_path / "pairs.jsonl",
        [
            {"id": "loud", "prompt": "Say hello.", "chosen": "HELLO!!!", "rejected": "Hello."},
            {
                "id": "even",
                "prompt": "Say bye.",
                "chosen": "Bye.",
                "rejected": "Goodbye.",
            },  # no rule separates them
        ],
    )
    args = ["label", "--pairs", str(pairs), "--constitution", str(STYLE), "--label-source", "rules", "-k", "2",
            "--tag", "tone", "--no-cache", "--no-progress", "--format", "plain"]  # fmt: skip
    out = tmp_path / "plain"
    assert main([*args, "-o", str(out)]) == 0
    [row] = read_rows(out)  # the tie is dropped by default...
    assert (row["prompt"], row["chosen"], row["rejected"]) == ("Say hello.", "Hello.", "HELLO!!!")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["format"] == "plain" and stats["ties_dropped"] == 1 and stats["rows"] == 1
    unlabeled = [json.loads(x) for x in (out / "unlabeled.jsonl").read_text().splitlines()]
    assert [(u["pair_id"], u["status"]) for u in unlabeled] == [("even:0-1", "tie")]
    assert "| ties dropped (p = 0.5) | 1 |" in (out / "README.md").read_text()
    # ...and kept with --keep-ties, margin 0
    assert main([*args, "-o", str(tmp_path / "ties"), "--keep-ties"]) == 0
    tie = next(r for r in read_rows(tmp_path / "ties") if r["pair_id"] == "even:0-1")
    assert tie["p_chosen"] == 0.5 and tie["margin"] == 0.0


def test_bad_options_are_clear(trl_pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label", "-o", str(tmp_path / "x"), "--label-source", "rules", "--no-cache"]) == 1
    assert "exactly one of --responses" in capsys.readouterr().err
    assert (
        main(
            [
                "label",
                "--pairs",
                str(trl_pairs),
                "-o",
                str(tmp_path / "y"),
                "--constitution",
                str(STYLE),
                "--label-source",
                "rules",
                "--no-cache",
                "--format",
                "yaml",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "field '--format': Input should be 'conversational', 'plain' or 'auto' (got 'yaml')" in err


def test_hub_dataset_id_offline_fails_fast_and_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif.feedback.inputs import load_preferences, load_prompts

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(DataFileError, match="offline mode is on"):
        load_prompts("someorg/some-prompts:train")
    with pytest.raises(DataFileError, match="hub dataset"):
        load_preferences("Anthropic/hh-rlhf")
    assert time.monotonic() - started < 5  # no network wait (a bound, not a timing measurement)


def test_hub_unreachable_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif.feedback import hub_datasets

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("rlaif.models.resolve.hub_reachable", lambda endpoint, timeout=3.0: False)
    with pytest.raises(DataFileError, match="did not answer"):
        list(hub_datasets.hub_rows("org/name"))
    assert hub_datasets.split_id("org/name:test") == ("org/name", "test")
    assert not hub_datasets.is_hub_dataset_id("just-a-file.jsonl")


def test_push_uploads_card_stats_and_unlabeled_privately(
    trl_pairs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict]] = []

    class FakeApi:
        def create_repo(self, repo_id: str, **kw: object) -> str:
            calls.append(("create", {"repo_id": repo_id, **kw}))
            return f"https://hub/{repo_id}"

        def upload_folder(self, **kw: object) -> None:
            calls.append(("upload", dict(kw)))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    for where in ("rlaif.models.exporter", "rlaif.feedback.labeler", "rlaif.feedback.label_output"):
        monkeypatch.setattr(f"{where}.check_hub_reachable", lambda timeout_s=3.0: "https://hub")
    out = tmp_path / "pushed"
    code = main(
        [
            "label",
            "--pairs",
            str(trl_pairs),
            "-o",
            str(out),
            "--constitution",
            str(STYLE),
            "--label-source",
            "rules",
            "-k",
            "2",
            "--tag",
            "tone",
            "--no-cache",
            "--no-progress",
            "--push-to-hub",
            "me/labels",
            "--private",
        ]
    )
    assert code == 0
    (create, c), (upload, u) = calls
    assert upload == "upload"
    assert create == "create" and c["repo_id"] == "me/labels" and c["private"] is True
    assert c["repo_type"] == "dataset" and u["repo_type"] == "dataset"
    assert sorted(u["allow_patterns"]) == ["README.md", "data.parquet", "stats.json", "unlabeled.jsonl"]
    assert u["folder_path"] == str(out)
