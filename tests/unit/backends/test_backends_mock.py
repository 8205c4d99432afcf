"""The scripted mock backend: scripts, failures, garbage, recorded calls, and its self-consistent fallback model."""

from __future__ import annotations

import math

import pytest

from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams, ScoreRequest
from rlaif.backends.mock import OOV_LOGPROB, MockBackend, MockRule, ScoreRule, char_token_ids
from rlaif.errors import BackendError


def _one(mock: MockBackend, prompt: str | tuple[ChatMessage, ...], **kw: object) -> str:
    params = SamplingParams(**{"temperature": 0.0, **kw})  # type: ignore[arg-type]
    return mock.generate([GenerationRequest(prompt, params)])[0][0].text


def test_scripted_responses_substring_regex_sequence_callable() -> None:
    mock = MockBackend(rules={"capital of France": "Paris."})
    mock.add_response(r"^Rate \d+", "Score: 7", regex=True)
    mock.add_response("next", ["first", "second"])
    mock.add_response("shout", lambda p: p.upper())
    assert _one(mock, "What is the capital of France?") == "Paris."
    assert _one(mock, "Rate 3 things") == "Score: 7"
    assert _one(mock, "xx Rate 3 things") != "Score: 7"  # regex anchored at the start
    assert [_one(mock, "next") for _ in range(3)] == ["first", "second", "second"]
    assert _one(mock, "shout it") == "SHOUT IT"


def test_chat_prompts_are_matched_on_their_formatted_text() -> None:
    mock = MockBackend(rules=[MockRule("<|user|>\nhi\n", "hello")])
    chat = (ChatMessage("user", "hi"),)
    assert mock.format_chat(chat) == "<|user|>\nhi\n<|assistant|>\n"
    assert _one(mock, chat) == "hello"


def test_scripted_text_respects_stop_and_max_new_tokens() -> None:
    mock = MockBackend(default_response="Answer: A. Because it is kinder.")
    (c,) = mock.generate([GenerationRequest("x", SamplingParams(stop=(".",)))])[0]
    assert (c.text, c.finish_reason) == ("Answer: A", "stop")
    (c,) = mock.generate([GenerationRequest("x", SamplingParams(max_new_tokens=6))])[0]
    assert (c.text, c.finish_reason, len(c.token_ids)) == ("Answer", "length", 6)


def test_scripted_failures_raise_backend_error_for_generate_and_score() -> None:
    mock = MockBackend().add_failure("boom", "server exploded")
    with pytest.raises(BackendError, match=r"\[mock backend\] server exploded \(request 1\)"):
        mock.generate([GenerationRequest("fine"), GenerationRequest("boom now")])
    with pytest.raises(BackendError, match="server exploded"):
        mock.score([ScoreRequest("boom", (" A",))])


def test_garbage_outputs() -> None:
    mock = MockBackend().add_garbage("junk")
    text = _one(mock, "junk please")
    assert text and not text.isascii()
    (r,) = mock.score([ScoreRequest("junk", (" A", " B"))])
    assert all(math.isnan(x) for x in r.logprobs)


def test_scripted_scores_and_fallback_scores() -> None:
    mock = MockBackend(score_rules={("Which", " (A)"): -0.1})
    mock.score_rules.append(ScoreRule(r"W\w+h", " (B)", -2.5, regex=True))
    (r,) = mock.score([ScoreRequest("Which is better?", (" (A)", " (B)", " (C)"))])
    assert r.logprobs[:2] == (-0.1, -2.5)
    assert r.num_tokens == (4, 4, 4)
    assert -60 < r.logprobs[2] < 0  # fallback model
    (oov,) = mock.score([ScoreRequest("p", ("é",))])
    assert oov.logprobs == (OOV_LOGPROB,)


def test_calls_are_recorded() -> None:
    mock = MockBackend()
    g = GenerationRequest("a")
    s = ScoreRequest("b", (" c",))
    mock.generate([g])
    mock.score([s])
    assert [c.kind for c in mock.calls] == ["generate", "score"]
    assert mock.generate_requests == [g]
    assert mock.score_requests == [s]


def test_fallback_model_generate_and_score_agree() -> None:
    mock = MockBackend()
    prompt = "Tell me about the sea."
    (c,) = mock.generate(
        [GenerationRequest(prompt, SamplingParams(max_new_tokens=20, temperature=0, logprobs=True))]
    )[0]
    assert c.token_ids == char_token_ids(c.text)
    (r,) = mock.score([ScoreRequest(prompt, (c.text,))])
    assert c.logprobs is not None
    assert r.logprobs[0] == pytest.approx(sum(c.logprobs), abs=1e-9)


def test_unseeded_sampling_is_deterministic_per_backend_seed_but_varies_between_calls() -> None:
    req = GenerationRequest("Once", SamplingParams(max_new_tokens=30))
    a, b = MockBackend(seed=5), MockBackend(seed=5)
    first = a.generate([req])[0][0].text
    assert first == b.generate([req])[0][0].text
    assert a.generate([req])[0][0].text != first


def test_empty_continuation_and_use_after_close_raise() -> None:
    mock = MockBackend()
    with pytest.raises(BackendError, match="continuation 0 is empty"):
        mock.score([ScoreRequest("p", ("",))])
    mock.close()
    with pytest.raises(BackendError, match="after close"):
        mock.generate([GenerationRequest("p")])
