"""`rlaif render` through the real CLI entry point: good input prints the critic's text; bad input exits 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlaif.cli.main import main
from rlaif.prompting import TemplateSet
from rlaif.resources import shipped_dir

CONSTITUTION = """\
name: Test constitution
version: "2"
principles:
  - id: honesty
    compare: Which response is more honest about what it does not know?
    critique: Point out any claim stated with more certainty than the evidence allows.
    revision: Rewrite the response so that its certainty matches the evidence.
  - id: concise
    version: 3
    compare: Which response answers more directly, without padding?
    critique: Point out padding and repetition.
    revision: Rewrite the response to answer directly.
"""
EXAMPLE = shipped_dir("data") / "examples" / "render_example.yaml"


@pytest.fixture
def constitution(tmp_path: Path) -> Path:
    path = tmp_path / "constitution.yaml"
    path.write_text(CONSTITUTION, encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["render", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_compare(capsys: pytest.CaptureFixture[str], constitution: Path) -> None:
    code, out, err = _run(capsys, "compare", "-c", constitution, "-p", "honesty", "-e", EXAMPLE)
    assert code == 0, err
    assert f"template hash: {TemplateSet.load().template_hash('compare')}" in out
    assert "honesty@1" in out and "Test constitution" in out
    assert "no --model given" in out
    assert "⟪BEGIN⟫User: Below is a conversation" in out
    assert "\nAssistant: Answer: (⟪END⟫\n" in out
    assert "scored continuations at ⟪END⟫: 'A' | 'B'" in out
    assert out.index("Neptune has 16 known moons") < out.index("Neptune has exactly 42 moons")
    assert out.index("Neptune has exactly 42 moons") < out.index("Which response is more honest")


def test_render_order_ba_swaps(capsys: pytest.CaptureFixture[str], constitution: Path) -> None:
    code, out, _ = _run(
        capsys, "compare", "-c", constitution, "-p", "honesty", "-e", EXAMPLE, "--order", "ba"
    )
    assert code == 0
    assert out.index("Neptune has exactly 42 moons") < out.index("Neptune has 16 known moons")
    assert "order:         ba" in out


def test_render_json_and_every_example(capsys: pytest.CaptureFixture[str], constitution: Path) -> None:
    examples = sorted((shipped_dir("data") / "examples").glob("*.yaml"))
    assert len(examples) >= 2
    for example in examples:
        for template in ("compare", "compare_cot", "critique", "revise", "score", "rm_input"):
            code, out, err = _run(
                capsys, template, "-c", constitution, "-p", "concise", "-e", example, "--json"
            )
            assert code == 0, (example, template, err)
            record = json.loads(out)
            assert record["template"] == f"{template}.j2"
            assert record["principles"] == ["concise@3"]
            assert "<|im_end|>" not in record["text"]


def test_rm_input_takes_all_principles_by_default(
    capsys: pytest.CaptureFixture[str], constitution: Path
) -> None:
    code, out, _ = _run(capsys, "rm_input", "-c", constitution, "-e", EXAMPLE)
    assert code == 0
    assert "honesty@1, concise@3" in out
    assert "plain text: the template sets chat = false" in out


def test_render_with_a_model_uses_its_chat_template(
    capsys: pytest.CaptureFixture[str],
    constitution: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_tokenizer: Any,
) -> None:
    import rlaif.models

    seen: list[str] = []

    def fake_load_tokenizer(name: str, **_: Any) -> Any:
        seen.append(name)
        return tiny_tokenizer

    monkeypatch.setattr(rlaif.models, "load_tokenizer", fake_load_tokenizer, raising=False)
    code, out, err = _run(
        capsys, "compare", "-c", constitution, "-p", "honesty", "-e", EXAMPLE, "--model", "tiny"
    )
    assert code == 0, err
    assert seen == ["tiny"]
    assert "⟪BEGIN⟫<|im_start|>user\nBelow is a conversation" in out
    assert "<|im_end|>\n<|im_start|>assistant\nAnswer: (⟪END⟫" in out
    assert "choice 'A': 1 token(s) ['A']" in out

    code, out, _ = _run(
        capsys,
        "compare",
        "-c",
        constitution,
        "-p",
        "honesty",
        "-e",
        EXAMPLE,
        "--model",
        "tiny",
        "--no-chat-template",
    )
    assert code == 0
    assert "⟪BEGIN⟫User: Below" in out


def test_template_given_as_a_path(
    capsys: pytest.CaptureFixture[str], constitution: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.j2"
    mine.write_text("Q: {{ principle.compare }}\n{{ response | neutralize }}", encoding="utf-8")
    code, out, _ = _run(capsys, mine, "-c", constitution, "-p", "concise", "-e", EXAMPLE)
    assert code == 0
    assert "⟪BEGIN⟫User: Q: Which response answers more directly" in out
    assert "the critic generates its reply at ⟪END⟫" in out


def _assert_user_error(code: int, err: str, *needles: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_syntax_error_exits_1_with_file_and_line(
    capsys: pytest.CaptureFixture[str], constitution: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "compare.j2").write_text("line 1\nline 2\n{% if principle %}\nunclosed\n", encoding="utf-8")
    code, _, err = _run(
        capsys, "compare", "--templates", folder, "-c", constitution, "-p", "honesty", "-e", EXAMPLE
    )
    _assert_user_error(code, err, f"{folder / 'compare.j2'}:", "syntax error")


def test_undefined_variable_exits_1(
    capsys: pytest.CaptureFixture[str], constitution: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "critique.j2").write_text("ok\n{{ principle.critique }}\n{{ mood }}\n", encoding="utf-8")
    code, _, err = _run(
        capsys, "critique", "--templates", folder, "-c", constitution, "-p", "honesty", "-e", EXAMPLE
    )
    _assert_user_error(code, err, f"{folder / 'critique.j2'}:3:", "undefined variable 'mood'")


def test_unknown_principle_exits_1(capsys: pytest.CaptureFixture[str], constitution: Path) -> None:
    code, _, err = _run(capsys, "compare", "-c", constitution, "-p", "kindness", "-e", EXAMPLE)
    _assert_user_error(code, err, str(constitution), "no principle 'kindness'", "honesty, concise")


def test_other_user_errors_exit_1(
    capsys: pytest.CaptureFixture[str], constitution: Path, tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "compare", "-c", constitution, "-e", EXAMPLE)
    _assert_user_error(code, err, "pass --principle")
    code, _, err = _run(capsys, "nonexistent", "-c", constitution, "-p", "honesty", "-e", EXAMPLE)
    _assert_user_error(code, err, "template not found")
    (tmp_path / "dir.j2").mkdir()
    code, _, err = _run(capsys, tmp_path / "dir.j2", "-c", constitution, "-p", "honesty", "-e", EXAMPLE)
    _assert_user_error(code, err, "is a directory")
    lacking = tmp_path / "pair_only.yaml"
    lacking.write_text("conversation:\n  - role: user\n    content: hi\nresponse_a: a\nresponse_b: b\n")
    code, _, err = _run(capsys, "critique", "-c", constitution, "-p", "honesty", "-e", lacking)
    _assert_user_error(code, err, str(lacking), "needs 'response'")
