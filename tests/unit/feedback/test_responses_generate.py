"""generate_responses: per-prompt seeds, finish reasons, overlong prompts, the responses dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.errors import DataFileError, RlaifError
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.responses import (
    GenerateConfig,
    generate_responses,
    prompt_seed,
    read_responses,
    write_responses,
)
from rlaif.strict import ConfigError

PROMPTS = [PromptRow(f"p{i}", (ChatMessage("user", f"Question number {i}?"),)) for i in range(5)]
CFG = GenerateConfig(n=3, max_new_tokens=12, seed=7, progress=False, batch_prompts=2)


def test_n_responses_seeded_per_prompt_and_recorded() -> None:
    mock = MockBackend()
    sets = generate_responses(mock, PROMPTS, CFG)
    assert [s.prompt.id for s in sets] == [p.id for p in PROMPTS]
    assert all(len(s.responses) == 3 and len(s.finish_reasons) == 3 for s in sets)
    assert [s.seed for s in sets] == [prompt_seed(7, p.id) for p in PROMPTS]
    assert [r.params.seed for r in mock.generate_requests] == [prompt_seed(7, p.id) for p in PROMPTS]
    assert len(mock.calls) == 3  # batches of 2 prompts
    assert sets[0].params == {
        "n": 3,
        "max_new_tokens": 12,
        "temperature": 1.0,
        "top_p": 1.0,
        "stop": [],
        "seed": 7,
    }
    assert sets[0].policy_model == "mock-char-lm" and sets[0].policy_revision == "1"
    # the mock's sampled text runs to max_new_tokens or stops at EOS: both reasons are kept as reported
    assert {r for s in sets for r in s.finish_reasons} <= {"stop", "length"}
    assert any(r == "length" for s in sets for r in s.finish_reasons)


def test_seeds_do_not_depend_on_order_or_neighbours() -> None:
    a = generate_responses(MockBackend(), PROMPTS, CFG)
    b = generate_responses(MockBackend(seed=99), list(reversed(PROMPTS[1:])), CFG)
    by_id = {s.prompt.id: s.responses for s in b}
    assert all(by_id[s.prompt.id] == s.responses for s in a[1:])
    assert prompt_seed(7, "p1") != prompt_seed(8, "p1") != prompt_seed(7, "p2")


def test_scripted_finish_reason_length() -> None:
    mock = MockBackend(default_response="word " * 20)
    [s] = generate_responses(mock, PROMPTS[:1], GenerateConfig(n=2, max_new_tokens=5, progress=False))
    assert s.responses == ("word ", "word ") and s.finish_reasons == ("length", "length")


def test_roundtrip_dataset(tmp_path: Path) -> None:
    sets = generate_responses(MockBackend(), PROMPTS, CFG)
    write_responses(tmp_path / "r", sets)
    assert read_responses(tmp_path / "r") == sets
    before = (tmp_path / "r" / "data.parquet").read_bytes()
    write_responses(tmp_path / "r", generate_responses(MockBackend(), PROMPTS, CFG))
    assert (tmp_path / "r" / "data.parquet").read_bytes() == before


def test_resumes_from_cache(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.sqlite")
    first = generate_responses(CachedBackend(MockBackend(), cache), PROMPTS, CFG)
    inner = MockBackend()
    again = generate_responses(CachedBackend(inner, cache), PROMPTS, CFG)
    assert again == first and inner.calls == []


LONG = PromptRow("long", (ChatMessage("user", "x" * 300),))
CHAT = PromptRow(
    "chat",
    (
        ChatMessage("system", "sys"),
        ChatMessage("user", "old question " * 10),
        ChatMessage("assistant", "old answer " * 10),
        ChatMessage("user", "new question"),
    ),
)


def test_overlong_truncate_keeps_start_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    mock = MockBackend(default_response="ok")
    cfg = GenerateConfig(n=1, max_prompt_tokens=100, progress=False)
    with caplog.at_level(logging.WARNING):
        sets = generate_responses(mock, [PROMPTS[0], LONG, CHAT], cfg)
    assert "truncated 2 prompt(s)" in caplog.text and "long, chat" in caplog.text
    short = {s.prompt.id: s for s in sets}
    assert not short["p0"].truncated and short["long"].truncated and short["chat"].truncated
    assert len(mock.format_chat(short["long"].prompt.conversation)) <= 100
    assert short["long"].prompt.conversation[0].content.startswith("xxx")
    # oldest turns go first; the system message and the last user turn stay
    assert [m.role for m in short["chat"].prompt.conversation] == ["system", "user"]
    assert short["chat"].prompt.conversation[-1].content == "new question"


def test_overlong_skip_and_error(caplog: pytest.LogCaptureFixture) -> None:
    mock = MockBackend(default_response="ok")
    with caplog.at_level(logging.WARNING):
        sets = generate_responses(
            mock,
            [PROMPTS[0], LONG],
            GenerateConfig(n=1, max_prompt_tokens=100, overlong="skip", progress=False),
        )
    assert (
        [s.prompt.id for s in sets] == ["p0"]
        and "skipped 1 prompt(s)" in caplog.text
        and "long" in caplog.text
    )
    with pytest.raises(RlaifError, match="longer than 100 tokens: long"):
        generate_responses(
            mock, [LONG], GenerateConfig(n=1, max_prompt_tokens=100, overlong="error", progress=False)
        )


def test_bad_config_and_bad_dataset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overlong"):
        GenerateConfig(overlong="drop")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="temperature"):
        GenerateConfig(temperature=-1)
    with pytest.raises(ConfigError, match="top_p"):
        GenerateConfig(top_p=0)
    from rlaif.feedback.dataset_io import write_rows

    write_rows(tmp_path / "x", [{"a": 1}])
    with pytest.raises(DataFileError, match="not a responses dataset"):
        read_responses(tmp_path / "x")
    with pytest.raises(DataFileError, match="dataset not found"):
        read_responses(tmp_path / "missing")
