"""``rlaif eval agreement`` on the mock backend: both input formats, the shipped files, exit codes and messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.inputs import load_preferences

ROOT = Path(__file__).resolve().parents[3]
HHH = ROOT / "principles/hhh.yaml"
HUMAN_LABELS = ROOT / "data/human_labels"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from rlaif.cli.main import main

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main(["eval", "agreement", *(str(a) for a in args)])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


TRL_PLAIN = [
    {"id": "a", "prompt": "What is 2+2?", "chosen": "4.", "rejected": "5."},
    {"id": "b", "prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
]
TRL_CONVERSATIONAL = [
    {
        "id": "c",
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "chosen": [{"role": "assistant", "content": "4."}],
        "rejected": [{"role": "assistant", "content": "5."}],
    },
    {
        "id": "d",
        "prompt": [{"role": "user", "content": "Capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    },
]
TRANSCRIPT = [
    {
        "id": "e",
        "chosen": "\n\nHuman: What is 2+2?\n\nAssistant: Let me see.\n\nHuman: Well?\n\nAssistant: 4.",
        "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: Let me see.\n\nHuman: Well?\n\nAssistant: 5.",
    },
    {
        "id": "f",
        "chosen": "\n\nHuman: Capital of France?\n\nAssistant: Paris.",
        "rejected": "\n\nHuman: Capital of France?\n\nAssistant: Lyon.",
    },
]


@pytest.mark.parametrize(
    ("rows", "expected_prompt"),
    [
        (TRL_PLAIN, "What is 2+2?"),
        (
            TRL_CONVERSATIONAL,
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        ),
        (
            TRANSCRIPT,
            [
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "Let me see."},
                {"role": "user", "content": "Well?"},
            ],
        ),
    ],
    ids=["trl-plain", "trl-conversational", "transcript"],
)
def test_both_input_formats(
    cli: Callable[..., Result], tmp_path: Path, rows: list[object], expected_prompt: object
) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", rows)
    out = tmp_path / "out"
    r = cli("--human", human, "-c", HHH, "--backend", "mock", "--critic", "m", "-k", "2", "-o", out)
    assert r.code == 0, r.output
    assert "overall" in r.out and "@1" in r.out
    assert f"report: {out / 'report.md'}" in r.out
    rows_out = read_rows(out / "pairs")
    assert rows_out[0]["prompt"] == expected_prompt
    assert rows_out[0]["chosen"] == "4." and rows_out[0]["rejected"] == "5."
    assert all(len(x["principles"]) == 2 for x in rows_out)
    report = json.loads((out / "report.json").read_text())
    assert report["n_pairs"] == 2 and report["source"] == str(human)
    assert (out.parent / ".rlaif-cache.sqlite").exists()  # the default call cache is shared by sibling stages


@pytest.mark.parametrize(
    "name",
    ["trl_format.jsonl", "trl_conversational.jsonl", "transcript_format.jsonl", "style_rule_pairs.jsonl"],
)
def test_shipped_human_label_files_load(name: str) -> None:
    pairs = load_preferences(HUMAN_LABELS / name)
    assert len(pairs) >= 10
    assert len({p.id for p in pairs}) == len(pairs)
    assert all(p.chosen.strip() and p.rejected.strip() and p.chosen != p.rejected for p in pairs)
    assert all(p.conversation[-1].role == "user" for p in pairs)


def test_all_principles_limit_and_cache(cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = tmp_path / "calls.sqlite"
    args = ("--human", HUMAN_LABELS / "trl_format.jsonl", "-c", ROOT / "principles/style.yaml")
    common = ("--backend", "mock", "--all-principles", "--limit", "5", "--cache", cache, "--resamples", "100")
    r = cli(*args, *common, "-o", out)
    assert r.code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["n_pairs"] == 5 and report["config"]["all_principles"] is True
    assert len(report["per_principle"]) == 8 and len(report["rules"]) == 8
    assert "rules vs critic" in r.out
    assert cache.exists() and not (out.parent / ".rlaif-cache.sqlite").exists()
    # a second run reads every call from the cache and reports the same numbers
    r2 = cli(*args, *common, "-o", tmp_path / "out2")
    assert r2.code == 0
    assert (tmp_path / "out2/report.json").read_text() == (out / "report.json").read_text()


def test_missing_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    r = cli("--human", tmp_path / "nope.jsonl", "-c", HHH, "--backend", "mock", "-o", tmp_path / "o")
    assert r.code == 1
    assert "nope.jsonl: file not found" in r.err and "Traceback" not in r.output


def test_missing_constitution(cli: Callable[..., Result], tmp_path: Path) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", TRL_PLAIN)
    r = cli("--human", human, "-c", tmp_path / "none.yaml", "--backend", "mock", "-o", tmp_path / "o")
    assert r.code == 1 and "none.yaml" in r.err and "Traceback" not in r.output


def test_malformed_rows_name_their_lines(cli: Callable[..., Result], tmp_path: Path) -> None:
    human = tmp_path / "bad.jsonl"
    human.write_text(
        json.dumps(TRL_PLAIN[0]) + "\n"
        "{not json\n" + json.dumps({"prompt": "x", "chosen": "y"}) + "\n" + json.dumps(TRANSCRIPT[1]) + "\n"
        '{"chosen": "\\n\\nHuman: a\\n\\nAssistant: b", "rejected": "\\n\\nHuman: OTHER\\n\\nAssistant: c"}\n',
        encoding="utf-8",
    )
    r = cli("--human", human, "-c", HHH, "--backend", "mock", "-o", tmp_path / "o")
    assert r.code == 1 and "Traceback" not in r.output
    assert f"{human}:2: invalid JSON" in r.err
    assert f"{human}:3: each row needs 'chosen' and 'rejected'" in r.err
    assert f"{human}:5: chosen and rejected must share every turn but the last" in r.err
    assert ":1:" not in r.err and ":4:" not in r.err
    assert "--skip-bad-rows" in r.err
    # skipping them evaluates the two good rows
    ok = cli(
        "--human", human, "-c", HHH, "--backend", "mock", "-o", tmp_path / "o", "--skip-bad-rows", "-k", "1"
    )
    assert ok.code == 0, ok.output
    assert json.loads((tmp_path / "o/report.json").read_text())["n_pairs"] == 2


def test_bad_options(cli: Callable[..., Result], tmp_path: Path) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", TRL_PLAIN)
    base = ("--human", human, "-c", HHH, "--backend", "mock", "-o", tmp_path / "o")
    r = cli(*base, "-k", "40")
    assert r.code == 1 and "cannot sample 40 distinct principles" in r.err
    r = cli(*base, "-p", "helpfulness", "-p", "made_up")
    assert r.code == 1 and "no principle 'made_up'" in r.err and "helpfulness" in r.err
    r = cli(*base, "--backend", "nonsense")
    assert r.code == 1 and "unknown backend 'nonsense'" in r.err
    r = cli(*base, "--backend-option", "novalue")
    assert r.code == 1 and "is not key=value" in r.err
    r = cli(*base, "--limit", "0")
    assert r.code == 1 and "field '--limit': Input should be greater than or equal to 1 (got 0)" in r.err
    assert not (tmp_path / "o/report.json").exists()


def test_bad_option_value_names_the_flag(cli: Callable[..., Result], tmp_path: Path) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", TRL_PLAIN)
    r = cli("--human", human, "-c", HHH, "--backend", "mock", "-o", tmp_path / "o", "--ties", "coin")
    assert r.code == 1 and "'--ties': Input should be 'half' or 'wrong' (got 'coin')" in r.err


def test_nothing_labeled_exits_1_with_the_reason(cli: Callable[..., Result], tmp_path: Path) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", TRL_PLAIN)
    # the mock's fallback model puts a tiny share of its probability on "A"/"B"
    r = cli(
        "--human", human, "-c", HHH, "--backend", "mock", "-o", tmp_path / "o", "--min-choice-mass", "0.9"
    )
    assert r.code == 1
    assert "unlabeled: 2 pair(s): critic put N% of its probability on the choices" in r.out
    assert "the critic labeled none of the 2 pairs" in r.err
    assert (tmp_path / "o/report.md").exists()  # the report with the reasons is still written


def test_help_lists_the_group() -> None:
    from rlaif.cli.main import SUBCOMMANDS

    assert SUBCOMMANDS["eval"] == "eval"
    from rlaif.cli.eval import app

    assert "agreement" in {c.name for c in app.registered_commands}
