"""The HTTP reward server: OpenRLHF's protocol and rlaif's JSON API, batching across concurrent clients with rewards
equal to the in-process scorer's, a bounded queue, a health endpoint and clear 4xx answers."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rlaif.reward import RewardModel
from rlaif.rewards import RewardFunction, reward_function
from rlaif.rewards.scorers import RewardItem
from rlaif.rewards.server import RewardServer, ServerSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHATML = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def post(url: str, body: Any, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def fn(tiny_rm_dir: Path, style_path: Path) -> RewardFunction:
    return reward_function(
        reward_model=RewardModel.load(tiny_rm_dir, device="cpu"), constitution=style_path, k=1
    )


@pytest.fixture
def server(fn: RewardFunction) -> Iterator[RewardServer]:
    s = RewardServer(fn, port=0, settings=ServerSettings(max_batch=16, max_wait_s=0.01, max_items=50)).start()
    yield s
    s.close()


def test_openrlhf_protocol_matches_in_process(server: RewardServer, fn: RewardFunction) -> None:
    prompts = [CHATML.format(q=f"Question number {i}?") for i in range(3)]
    responses = ["A calm answer.", "LOUD! LOUD!", "Fine."]
    queries = [p + r + "<|im_end|><|endoftext|>" for p, r in zip(prompts, responses, strict=True)]
    status, body = post(
        server.url + "/get_reward", {"query": queries, "prompts": prompts, "labels": ["", "", ""]}
    )
    assert status == 200
    want = fn([f"Question number {i}?" for i in range(3)], responses)
    assert body["rewards"] == pytest.approx(want, abs=1e-5)
    assert body["scores"] == body["rewards"] and body["extra_logs"]["rlaif_unjudged"] == [0, 0, 0]
    # without prompts, a ChatML query is split at the last assistant turn
    status, body2 = post(server.url + "/get_reward", {"query": queries})
    assert status == 200 and body2["rewards"] == pytest.approx(body["rewards"], abs=1e-5)


def test_rlaif_api_and_health(server: RewardServer, fn: RewardFunction) -> None:
    items = [
        {"prompt": "Q?", "response": "Calm.", "principles": ["concise"]},
        {"prompt": [{"role": "user", "content": "Q?"}], "response": "LOUD!"},
    ]
    status, body = post(server.url + "/v1/rewards", {"items": items})
    assert status == 200
    assert body["principles"][0] == ["concise@1"] and body["scorer"] == "rlaif_rm"
    want = fn(["Q?", "Q?"], ["Calm.", "LOUD!"], principles=[["concise"], None])
    assert body["rewards"] == pytest.approx(want, abs=1e-5)
    with urllib.request.urlopen(server.url + "/health", timeout=10) as r:
        health = json.loads(r.read())
    assert health["status"] == "ok" and health["items"] >= 2 and health["queued"] == 0


@pytest.mark.parametrize(
    ("path", "body", "raw", "status", "message"),
    [
        ("/get_reward", None, b"{not json", 400, "not a JSON object"),
        ("/get_reward", {"prompts": ["x"]}, None, 400, "missing field 'query'"),
        ("/get_reward", {"query": [1, 2]}, None, 400, "list of strings"),
        ("/get_reward", {"query": ["ab"], "prompts": ["zz"]}, None, 400, "does not start with its prompt"),
        ("/get_reward", {"query": ["a", "b"], "prompts": ["a"]}, None, 400, "2 queries but 1 prompts"),
        ("/get_reward", {"query": []}, None, 400, "no items"),
        ("/get_reward", {"query": ["x"] * 51}, None, 413, "max 50"),
        ("/v1/rewards", {"items": [{"prompt": "q"}]}, None, 400, "'response'"),
        (
            "/v1/rewards",
            {"items": [{"prompt": "q", "response": "r", "principles": ["nope"]}]},
            None,
            400,
            "unknown principle",
        ),
        (
            "/v1/rewards",
            {"items": [{"prompt": [{"role": "bot", "content": "x"}], "response": "r"}]},
            None,
            400,
            "role",
        ),
        ("/nowhere", {}, None, 404, "no POST endpoint"),
        ("/health", {}, None, 405, "no POST endpoint"),
    ],
)
def test_bad_requests_get_clear_4xx(
    server: RewardServer, path: str, body: Any, raw: bytes | None, status: int, message: str
) -> None:
    got_status, got = post(server.url + path, body, raw=raw)
    assert got_status == status
    assert message in got["error"]


def test_concurrent_clients_are_batched_and_nothing_is_lost(server: RewardServer, fn: RewardFunction) -> None:
    def one(client: int) -> list[tuple[int, list[float]]]:
        out = []
        for j in range(3):
            items = [{"prompt": f"Question {client}?", "response": f"Answer {j} {n}."} for n in range(2)]
            status, body = post(server.url + "/v1/rewards", {"items": items})
            out.append((status, body["rewards"]))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    for client, per_client in enumerate(results):
        for j, (status, rewards) in enumerate(per_client):
            assert status == 200
            want = fn([f"Question {client}?"] * 2, [f"Answer {j} {n}." for n in range(2)])
            assert rewards == pytest.approx(want, abs=1e-5)
    health = server.service.health()
    assert health["requests"] == 24 and health["items"] == 48 and health["queued"] == 0


class _SlowScorer:
    name = "slow"
    needs_reference = False

    def __init__(self) -> None:
        self.release = threading.Event()

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        self.release.wait(10)
        return [1.0] * len(items)


def test_requests_waiting_together_are_scored_in_one_batch(fn: RewardFunction) -> None:
    from rlaif.rewards.server import Batcher

    slow = _SlowScorer()
    calls: list[int] = []
    real = slow.score

    def counting(items: Sequence[RewardItem]) -> list[float | None]:
        calls.append(len(items))
        return real(items)

    slow.score = counting  # type: ignore[method-assign]
    batcher = Batcher(RewardFunction(slow, fn.principles), ServerSettings(max_batch=64, max_wait_s=0.0))
    item = fn.items(["q"], ["r"])[0]
    try:
        first = batcher.submit([item])
        while not calls:  # the worker holds the first job in score()
            time.sleep(0.001)
        rest = [batcher.submit([item, item]) for _ in range(4)]
        slow.release.set()
        assert first.result(10) == [1.0] and all(f.result(10) == [1.0, 1.0] for f in rest)
        assert calls == [1, 8]  # the four waiting requests went in one call
    finally:
        slow.release.set()
        batcher.close()


def test_a_full_queue_answers_503(fn: RewardFunction) -> None:
    slow = _SlowScorer()
    server = RewardServer(
        RewardFunction(slow, fn.principles), port=0, settings=ServerSettings(max_queue=2, max_wait_s=0.0)
    ).start()
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(
                post, server.url + "/v1/rewards", {"items": [{"prompt": "q", "response": "r"}] * 2}
            )
            deadline = time.monotonic() + 10
            while server.service.batcher.queued < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            status, body = post(server.url + "/v1/rewards", {"items": [{"prompt": "q", "response": "r"}]})
            assert status == 503 and "queue is full" in body["error"]
            slow.release.set()
            assert first.result()[0] == 200
    finally:
        slow.release.set()
        server.close()


def test_openrlhf_gets_a_number_and_a_flag_for_unjudged(fn: RewardFunction) -> None:
    from rlaif.backends.mock import MockBackend
    from rlaif.rewards.scorers import CriticPointwiseScorer

    critic_fn = RewardFunction(CriticPointwiseScorer(MockBackend(), min_choice_mass=1.0), fn.principles)
    server = RewardServer(critic_fn, port=0, settings=ServerSettings(unjudged_reward=-2.0)).start()
    try:
        status, body = post(server.url + "/get_reward", {"query": ["Q? A."], "prompts": ["Q?"]})
        assert status == 200 and body["rewards"] == [-2.0] and body["extra_logs"]["rlaif_unjudged"] == [1]
        status, body = post(server.url + "/v1/rewards", {"items": [{"prompt": "Q?", "response": "A."}]})
        assert status == 200 and body["rewards"] == [None]
    finally:
        server.close()
