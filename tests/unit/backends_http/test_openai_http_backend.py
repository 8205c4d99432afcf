"""OpenAIBackend against a scripted loopback HTTP stub: success paths, scoring boundaries, retries and errors."""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rlaif.backends._http_stub import (
    StubRequest,
    StubResponse,
    StubServer,
    chat_body,
    completion_body,
    echo_body,
)
from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams, ScoreRequest
from rlaif.backends.openai_backend import OpenAIBackend
from rlaif.errors import BackendError

FAST = {"backoff": 0.001, "max_backoff": 0.01, "timeout": 2.0}


def stub_tokens(text: str) -> list[str]:
    """The stub server's 'tokenizer': words with their leading space, and runs of punctuation."""
    return re.findall(r" ?\w+| ?[^\w\s]+|\s+", text)


def stub_logprob(token: str) -> float:
    return -0.25 * len(token)


def echo_handler(req: StubRequest) -> StubResponse | None:
    """Echo scoring as vLLM serve does it: every prompt token with its logprob, then one sampled token."""
    if req.path != "/v1/completions":
        return None
    assert req.body["echo"] is True
    per_prompt = []
    for prompt in req.body["prompt"]:
        toks = stub_tokens(prompt)
        pairs: list[tuple[str, float | None]] = [
            (t, None if i == 0 else stub_logprob(t)) for i, t in enumerate(toks)
        ]
        pairs.append((" x", -9.0))  # the one generated token must be ignored
        per_prompt.append(pairs)
    return StubResponse(body=echo_body(per_prompt))


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[StubServer] = []

    def make(handler: Any, **kw: Any) -> StubServer:
        s = StubServer(handler, max_lifetime=30, **kw).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def make_backend(server: StubServer, **kw: Any) -> OpenAIBackend:
    opts = {**FAST, **kw}
    return OpenAIBackend("stub-model", base_url=server.url, **opts)


class CharTokenizer:
    """A local tokenizer stand-in: one token per character (id = code point), BOS id 1 added to prompts."""

    bos_token = "<s>"

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [ord(c) for c in text]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
    ) -> str:
        body = "".join(f"<{m['role']}>{m['content']}\n" for m in messages)
        return "<s>" + body + ("<assistant>" if add_generation_prompt else "")


# ----------------------------------------------------------------------------------------------- success paths


def test_completion_request_carries_sampling_params_and_parses_choices(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            n = req.body["n"]
            return StubResponse(
                body=completion_body(
                    [f"answer {i}" for i in range(n)][::-1],
                    finish_reason="length",
                    token_logprobs=[[-0.5, -1.5]] * n,
                )
            )
        return None

    server = server_factory(handler)
    with make_backend(server) as backend:
        params = SamplingParams(
            max_new_tokens=7, temperature=0.7, top_p=0.9, n=3, stop=("\n",), seed=11, logprobs=True
        )
        [completions] = backend.generate([GenerationRequest("Say hi", params)])
    [call] = server.calls("/v1/completions")
    body = call.body
    assert body["model"] == "stub-model" and body["prompt"] == "Say hi"
    assert (body["n"], body["max_tokens"], body["temperature"], body["top_p"]) == (3, 7, 0.7, 0.9)
    assert body["stop"] == ["\n"] and body["seed"] == 11 and body["logprobs"] == 1
    assert "return_token_ids" not in body  # not a vLLM server: no vLLM-only fields
    # choices come back sorted by index although the body listed them reversed... index order is what counts
    assert [c.text for c in completions] == ["answer 2", "answer 1", "answer 0"]
    assert all(c.finish_reason == "length" for c in completions)
    assert completions[0].logprobs == (-0.5, -1.5)
    assert completions[0].token_ids == ()  # no tokenizer and no ids from the server


def test_vllm_server_is_asked_for_token_ids(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            return StubResponse(body=completion_body(["ok"], token_ids=[[5, 6]]))
        return None

    server = server_factory(handler, owned_by="vllm")
    with make_backend(server) as backend:
        [[c]] = backend.generate([GenerationRequest("hi", SamplingParams(max_new_tokens=2, temperature=0))])
    assert server.calls("/v1/completions")[0].body["return_token_ids"] is True
    assert c.token_ids == (5, 6) and c.finish_reason == "stop" and c.logprobs is None


def test_chat_prompt_uses_chat_endpoint(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/chat/completions":
            return StubResponse(body=chat_body(["Paris."], token_logprobs=[[-0.1, -0.2, -0.3]]))
        return None

    server = server_factory(handler)
    chat = (ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of France?"))
    with make_backend(server) as backend:
        [[c]] = backend.generate([GenerationRequest(chat, SamplingParams(logprobs=True, temperature=0))])
    [call] = server.calls("/v1/chat/completions")
    assert call.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert call.body["logprobs"] is True and call.body["top_logprobs"] == 0
    assert c.text == "Paris." and c.logprobs == (-0.1, -0.2, -0.3)


def test_use_chat_sends_text_prompts_as_a_user_message(server_factory: Any) -> None:
    server = server_factory(
        lambda req: StubResponse(body=chat_body(["hey"])) if req.path == "/v1/chat/completions" else None
    )
    with make_backend(server, use_chat=True) as backend:
        [[c]] = backend.generate([GenerationRequest("hello")])
    assert server.calls("/v1/chat/completions")[0].body["messages"] == [{"role": "user", "content": "hello"}]
    assert c.text == "hey"


def test_requests_keep_their_order(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            k = int(req.body["prompt"])
            return StubResponse(body=completion_body([f"<{k}>"]), delay=0.02 * ((7 * k) % 5))
        return None

    server = server_factory(handler)
    with make_backend(server, max_concurrency=4) as backend:
        outs = backend.generate([GenerationRequest(str(k)) for k in range(12)])
    assert [o[0].text for o in outs] == [f"<{k}>" for k in range(12)]


# ----------------------------------------------------------------------------------------------- scoring


def test_echo_scoring_sums_only_the_continuation_tokens(server_factory: Any) -> None:
    server = server_factory(echo_handler)
    prompt = "Which response is better? Answer:"
    with make_backend(server) as backend:
        [res] = backend.score([ScoreRequest(prompt, (" (A)", " (B) because"))])
    [call] = server.calls("/v1/completions")
    assert call.body["prompt"] == [prompt + " (A)", prompt + " (B) because"]
    assert call.body["echo"] is True and call.body["max_tokens"] == 1 and call.body["logprobs"] == 1
    # " (A)" → " (", "A", ")"; " (B) because" → " (", "B", ")", " because"
    assert res.num_tokens == (3, 4)
    assert res.logprobs[0] == pytest.approx(stub_logprob(" (") + stub_logprob("A") + stub_logprob(")"))
    assert res.logprobs[1] == pytest.approx(-0.25 * (2 + 1 + 1 + 8))


def test_echo_scoring_refuses_a_token_straddling_the_boundary(server_factory: Any) -> None:
    server = server_factory(echo_handler)
    with make_backend(server) as backend, pytest.raises(BackendError, match="spans the boundary") as err:
        # "Answer: " + "yes" is tokenized as "Answer", ":", " yes": the space belongs to the continuation's token
        backend.score([ScoreRequest("Answer: ", ("yes",))])
    assert "tokenizer=" in err.value.format()


def test_token_id_scoring_with_a_local_tokenizer(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path != "/v1/completions":
            return None
        choices = []
        for i, ids in enumerate(req.body["prompt"]):
            assert all(isinstance(t, int) for t in ids)  # token-id prompts
            lps = [None] + [-t / 1000 for t in ids[1:]] + [-9.0]
            choices.append(
                {"index": i, "text": "", "logprobs": {"token_logprobs": lps}, "finish_reason": "length"}
            )
        return StubResponse(body={"choices": choices})

    server = server_factory(handler)
    with make_backend(server, tokenizer=CharTokenizer()) as backend:
        [res] = backend.score([ScoreRequest("Q:", (" A", "BB"))])
        # a chat-formatted prompt starts with BOS text: no second BOS id is added
        chat_prompt = backend.format_chat([ChatMessage("user", "hi")])
        backend.score([ScoreRequest(chat_prompt, ("x",))])
    first, second = server.calls("/v1/completions")
    assert first.body["prompt"] == [
        [1, ord("Q"), ord(":"), ord(" "), ord("A")],
        [1, ord("Q"), ord(":"), 66, 66],
    ]
    assert res.num_tokens == (2, 2)
    assert res.logprobs == pytest.approx((-(32 + 65) / 1000, -(66 + 66) / 1000))
    assert second.body["prompt"][0][0] == ord("<")


def test_score_rejects_empty_continuation_before_any_request(server_factory: Any) -> None:
    server = server_factory(echo_handler)
    with make_backend(server) as backend, pytest.raises(BackendError, match="empty continuation"):
        backend.score([ScoreRequest("p", ("",))])
    assert server.requests == []


def test_format_chat_without_tokenizer_says_what_to_pass(server_factory: Any) -> None:
    server = server_factory(echo_handler)
    with make_backend(server) as backend, pytest.raises(BackendError) as err:
        backend.format_chat([ChatMessage("user", "hi")])
    assert "tokenizer=" in err.value.format()


# ----------------------------------------------------------------------------------------------- retries


def test_500s_are_retried_then_succeed(server_factory: Any) -> None:
    failures = {"left": 2}

    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            if failures["left"]:
                failures["left"] -= 1
                return StubResponse(status=500, body={"error": {"message": "boom"}})
            return StubResponse(body=completion_body(["fine"]))
        return None

    server = server_factory(handler)
    with make_backend(server, max_retries=3) as backend:
        [[c]] = backend.generate([GenerationRequest("x")])
        assert backend.retries == 2
    assert c.text == "fine"
    assert len(server.calls("/v1/completions")) == 3


def test_persistent_503_gives_up_after_max_retries(server_factory: Any) -> None:
    server = server_factory(
        lambda req: (
            StubResponse(status=503, body={"error": {"message": "overloaded"}})
            if req.path == "/v1/completions"
            else None
        )
    )
    with make_backend(server, max_retries=2) as backend, pytest.raises(BackendError) as err:
        backend.generate([GenerationRequest("x")])
    assert len(server.calls("/v1/completions")) == 3
    msg = err.value.format()
    assert "HTTP 503" in msg and "3 attempt(s)" in msg and "overloaded" in msg


def test_429_waits_for_retry_after(server_factory: Any) -> None:
    state = {"limited": True}

    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            if state["limited"]:
                state["limited"] = False
                return StubResponse(
                    status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0.3"}
                )
            return StubResponse(body=completion_body(["ok"]))
        return None

    server = server_factory(handler)
    with make_backend(server) as backend:
        start = time.monotonic()
        [[c]] = backend.generate([GenerationRequest("x")])
        elapsed = time.monotonic() - start
    assert c.text == "ok" and backend.retries == 1
    assert elapsed >= 0.3  # the backoff alone (≤ 0.01 s) would have been much shorter


def test_4xx_other_than_429_is_not_retried(server_factory: Any) -> None:
    server = server_factory(
        lambda req: (
            StubResponse(status=400, body={"error": {"message": "temperature too high"}})
            if req.path == "/v1/completions"
            else None
        )
    )
    with (
        make_backend(server, max_retries=4) as backend,
        pytest.raises(BackendError, match="temperature too high"),
    ):
        backend.generate([GenerationRequest("x")])
    assert len(server.calls("/v1/completions")) == 1


def test_unknown_model_lists_the_served_models(server_factory: Any) -> None:
    server = server_factory(
        lambda req: (
            StubResponse(status=404, body={"error": {"message": "The model `stub-model` does not exist."}})
            if req.path == "/v1/completions"
            else None
        ),
        models=("org/served-a", "served-b"),
    )
    with make_backend(server) as backend, pytest.raises(BackendError) as err:
        backend.generate([GenerationRequest("x")])
    msg = err.value.format()
    assert "does not serve the model 'stub-model'" in msg and "'org/served-a', 'served-b'" in msg


def test_auth_failure_names_the_key(server_factory: Any) -> None:
    server = server_factory(
        lambda req: (
            StubResponse(status=401, body={"error": {"message": "bad key"}})
            if req.path == "/v1/completions"
            else None
        )
    )
    with make_backend(server, api_key="sk-wrong") as backend, pytest.raises(BackendError) as err:
        backend.generate([GenerationRequest("x")])
    assert "OPENAI_API_KEY" in err.value.format()
    assert server.requests[-1].body["prompt"] == "x"


# ----------------------------------------------------------------------------------------------- failures


def test_timeout_after_retries(server_factory: Any) -> None:
    server = server_factory(
        lambda req: (
            StubResponse(body=completion_body(["late"]), delay=3.0) if req.path == "/v1/completions" else None
        )
    )
    with make_backend(server, timeout=0.2, max_retries=1) as backend:
        start = time.monotonic()
        with pytest.raises(BackendError) as err:
            backend.generate([GenerationRequest("x")])
        elapsed = time.monotonic() - start
    assert "did not answer within 0.2 s" in err.value.format() and "2 attempt(s)" in err.value.format()
    assert len(server.calls("/v1/completions")) == 2
    assert elapsed < 2.5  # gave up on each attempt after 0.2 s instead of waiting 3 s for the answer


def test_malformed_json_is_a_clear_error(server_factory: Any) -> None:
    server = server_factory(
        lambda req: StubResponse(body='{"choices": [oops') if req.path == "/v1/completions" else None
    )
    with make_backend(server) as backend, pytest.raises(BackendError, match="malformed JSON"):
        backend.generate([GenerationRequest("x")])
    assert len(server.calls("/v1/completions")) == 1


def test_missing_logprobs_when_scoring(server_factory: Any) -> None:
    server = server_factory(
        lambda req: StubResponse(body=completion_body(["p c"])) if req.path == "/v1/completions" else None
    )
    with make_backend(server) as backend, pytest.raises(BackendError) as err:
        backend.score([ScoreRequest("p", (" c",))])
    assert "returned no logprobs" in err.value.format() and "echo" in err.value.format()


def test_missing_logprobs_when_generating_with_logprobs(server_factory: Any) -> None:
    server = server_factory(
        lambda req: StubResponse(body=chat_body(["hi"])) if req.path == "/v1/chat/completions" else None
    )
    with make_backend(server) as backend, pytest.raises(BackendError, match="returned no logprobs"):
        backend.generate([GenerationRequest((ChatMessage("user", "x"),), SamplingParams(logprobs=True))])


def test_connection_refused_names_the_url_and_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the port is closed now: nothing listens there
    backend = OpenAIBackend(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, **{**FAST, "timeout": 0.5}
    )
    with backend, pytest.raises(BackendError) as err:
        backend.generate([GenerationRequest("x")])
    msg = err.value.format()
    assert f"127.0.0.1:{port}/v1" in msg and "start the server" in msg and "[openai backend]" in msg
    assert backend.retries == 1


def test_concurrency_is_bounded(server_factory: Any) -> None:
    def handler(req: StubRequest) -> StubResponse | None:
        if req.path == "/v1/completions":
            return StubResponse(body=completion_body([req.body["prompt"]]), delay=0.05)
        return None

    server = server_factory(handler)
    with make_backend(server, max_concurrency=3) as backend:
        outs = backend.generate([GenerationRequest(str(k)) for k in range(12)])
    assert [o[0].text for o in outs] == [str(k) for k in range(12)]
    assert server.max_concurrent == 3  # reached, never exceeded


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(BackendError, match="max_concurrency"):
        OpenAIBackend("m", base_url="http://127.0.0.1:1/v1", max_concurrency=0)


def test_stub_server_stops_by_itself() -> None:
    server = StubServer(lambda req: None, max_lifetime=0.2).start()
    deadline = time.monotonic() + 3
    while server._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server._thread.is_alive()
    assert not math.isnan(server.port)
    assert threading.active_count() >= 1


def test_greedy_n_is_asked_once_and_repeated(server_factory: Any) -> None:
    server = server_factory(
        lambda req: StubResponse(body=completion_body(["same"])) if req.path == "/v1/completions" else None
    )
    with make_backend(server) as backend:
        [outs] = backend.generate([GenerationRequest("x", SamplingParams(temperature=0.0, n=3))])
    [call] = server.calls("/v1/completions")
    assert call.body["n"] == 1  # vLLM rejects n > 1 with greedy decoding
    assert [c.text for c in outs] == ["same"] * 3
