"""Every judge mode against a scripted server per API shape: the modes that can work do, the others fail at once
naming the mode that would; refused prompts, the failure share, usage and cost, identity in the cache key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rlaif.backends._http_stub import StubServer
from rlaif.backends._stub_shapes import GOOD, REFUSE, SHAPES, make_shape
from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams, TooManyFailures
from rlaif.backends.openai_backend import OpenAIBackend
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import RlaifError
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.judge import JudgeConfig, judge_pairs_detailed
from rlaif.feedback.judge_modes import resolve_judge_mode
from rlaif.feedback.labeler import LabelConfig, label_dataset
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet

P = Principle(id="p", compare="Which is better?", critique="c", revision="r")
CONV = (ChatMessage("user", "Say hello."),)

#: shape -> the judge modes that work with it (no local tokenizer given), best first
WORKS = {
    "openai_chat": ["top-logprobs", "verdict"],
    "no_logprobs": ["verdict"],
    "ollama": ["top-logprobs", "verdict"],
    "llamacpp": ["top-logprobs", "verdict"],
    "vllm": ["top-logprobs", "verdict"],
}


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.load()


def _server(shape: str, **kw: object) -> StubServer:
    return StubServer(make_shape(shape, **kw))  # type: ignore[arg-type]


def _backend(server: StubServer, **kw: object) -> OpenAIBackend:
    return OpenAIBackend("stub-model", base_url=server.url, backoff=0.001, max_retries=0, **kw)  # type: ignore[arg-type]


def _pairs() -> list[Comparison]:
    return [
        Comparison("x:0-1", CONV, f"Hello, a {GOOD} answer.", "meh", (P,)),
        Comparison("y:0-1", CONV, "meh", f"Hi, a {GOOD} one.", (P,)),
    ]


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_every_mode_that_can_work_does_and_the_others_fail_at_once(
    shape: str, templates: TemplateSet
) -> None:
    with _server(shape) as server, _backend(server) as backend:
        works = WORKS[shape]
        assert resolve_judge_mode(backend, "auto") == works[0]
        for mode in ("choice-logprobs", "top-logprobs", "verdict"):
            config = JudgeConfig(mode=mode, verdict_samples=5, verdict_temperature=1.0)
            if mode not in works:
                before = len(server.requests)
                with pytest.raises(RlaifError, match=f"--judge-mode {works[0]}"):
                    judge_pairs_detailed(backend, templates, _pairs(), config, progress=False)
                assert len(server.requests) == before  # failed before any judging request
                continue
            judged = judge_pairs_detailed(backend, templates, _pairs(), config, progress=False)
            first, second = (j.result for j in judged)
            assert isinstance(first, SoftLabel) and isinstance(second, SoftLabel), (shape, mode, judged)
            assert first.p > 0.5 > second.p, (shape, mode)
            if mode == "top-logprobs":
                # 0.85 renormalised from the two choices' listed probabilities, in both orders
                assert first.p == pytest.approx(0.85) and second.p == pytest.approx(0.15)


def test_top_logprobs_request_shape_with_and_without_prefill(templates: TemplateSet) -> None:
    for shape, prefilled in (("vllm", True), ("openai_chat", False)):
        with _server(shape) as server, _backend(server) as backend:
            judge_pairs_detailed(
                backend, templates, _pairs()[:1], JudgeConfig(mode="top-logprobs"), progress=False
            )
            body = next(
                r.body for r in server.calls("/v1/chat/completions") if r.body.get("top_logprobs") == 20
            )
            assert body["logprobs"] is True and body["temperature"] == 0.0
            if prefilled:
                assert body["messages"][-1] == {"role": "assistant", "content": "Answer: ("}
                assert body["continue_final_message"] is True and body["max_tokens"] == 1
            else:
                assert body["messages"][-1]["role"] == "user" and body["max_tokens"] == 5


def test_generate_loops_requests_when_the_server_ignores_n() -> None:
    with _server("ollama") as server, _backend(server) as backend:
        chat = (ChatMessage("user", "Hello"),)
        [out] = backend.generate([GenerationRequest(chat, SamplingParams(n=3, temperature=1.0, seed=7))])
        assert len(out) == 3
        seeds = [r.body.get("seed") for r in server.calls("/v1/chat/completions")]
        assert seeds == [7, 8, 9]


def _sets(n: int, refuse: set[int] = frozenset()) -> list[ResponseSet]:  # type: ignore[assignment]
    out = []
    for i in range(n):
        bad = f" {REFUSE}" if i in refuse else ""
        out.append(
            ResponseSet(
                prompt=PromptRow(f"q{i}", (ChatMessage("user", f"Greet me {i}{bad}."),)),
                responses=(f"Hello {GOOD} {i}.", f"meh {i}"),
                finish_reasons=("stop", "stop"),
                seed=1,
                policy_model="policy",
                policy_revision="r",
            )
        )
    return out


def test_a_refused_prompt_leaves_its_pair_unlabeled_and_the_run_goes_on(
    templates: TemplateSet, tmp_path: Path
) -> None:
    const = Constitution(name="c", principles=(P,))
    with _server("openai_chat") as server:
        backend = _backend(server, input_price_per_mtok=2.0, output_price_per_mtok=8.0)
        cached = CachedBackend(backend, CallCache(tmp_path / "cache.sqlite"))
        config = LabelConfig(k=1, judge_mode="top-logprobs", progress=False)
        run = label_dataset(_sets(6, refuse={2}), const, cached, templates, config)
        backend.close()
    assert run.stats["labeled"] == 5 and run.stats["unlabeled"] == 1
    [u] = [u for u in run.unlabeled if u["status"] == "unlabeled"]
    assert u["prompt_id"] == "q2" and "content policy" in u["reason"]
    assert all(r["p_chosen"] == pytest.approx(0.85) for r in run.rows)
    usage = run.stats["critic_usage"]
    assert usage["failed_requests"] == 2  # both orders of the refused pair
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    want = (usage["input_tokens"] * 2.0 + usage["output_tokens"] * 8.0) / 1e6
    assert usage["estimated_cost"] == pytest.approx(want, abs=1e-6)
    assert run.stats["judge_mode"] == "top-logprobs"
    assert '"judge_mode":"top-logprobs"' in run.rows[0]["params"]


def test_the_run_stops_when_too_many_requests_fail(templates: TemplateSet) -> None:
    const = Constitution(name="c", principles=(P,))
    with _server("openai_chat") as server, _backend(server, max_failure_share=0.1) as backend:
        config = LabelConfig(k=1, judge_mode="verdict", verdict_samples=1, progress=False)
        with pytest.raises(TooManyFailures, match="allowed share"):
            label_dataset(_sets(8, refuse={0, 1, 2, 3}), const, backend, templates, config)


def test_the_served_identity_keys_the_cache(templates: TemplateSet, tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "cache.sqlite")
    pairs = _pairs()[:1]
    config = JudgeConfig(mode="top-logprobs")
    for fingerprint, computed in (("fp_1", True), ("fp_1", False), ("fp_2", True)):
        with _server("openai_chat", fingerprint=fingerprint) as server, _backend(server) as backend:
            cached = CachedBackend(backend, cache)
            assert cached.model_revision == f"fingerprint:{fingerprint}"
            judge_pairs_detailed(cached, templates, pairs, config, progress=False)
            judged_calls = [
                r for r in server.calls("/v1/chat/completions") if r.body.get("top_logprobs") == 20
            ]
            assert bool(judged_calls) is computed, fingerprint
    # a revision set by the user wins over the fingerprint
    with _server("openai_chat") as server, _backend(server, model_revision="2024-08-06") as backend:
        assert backend.model_revision == "2024-08-06"


def test_requests_per_minute_spaces_requests() -> None:
    with _server("openai_chat") as server, _backend(server, requests_per_minute=60000) as backend:
        assert backend._limiter.interval == pytest.approx(0.001)
        chat = (ChatMessage("user", "Hello"),)
        backend.generate([GenerationRequest(chat, SamplingParams(temperature=0.0))] * 3)
        assert len(server.calls("/v1/chat/completions")) == 3


def test_revise_with_the_critic_on_its_own_served_backend(tmp_path: Path) -> None:
    import json

    from rlaif.backends.spec import ModelSpec
    from rlaif.feedback.revise_config import ReviseConfig
    from rlaif.jobs.revise import ReviseJob, run_revise

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"id": f"q{i}", "prompt": f"Say hello {i}."}) + "\n" for i in range(2))
    )
    with _server("openai_chat") as server:
        job = ReviseJob(
            constitution=Path("principles/style.yaml"),
            out=tmp_path / "out",
            prompts=prompts,
            policy=ModelSpec(model="policy", backend="mock"),
            critic=ModelSpec(
                model="stub-model", backend="openai", options={"base_url": server.url, "max_retries": 0}
            ),
            use_cache=False,
            config=ReviseConfig(
                judge_mode="top-logprobs", few_shot=False, drop_truncated=False, revision_max_new_tokens=16
            ),
        )
        run = run_revise(job).run
        # critiques and the revision-vs-original judgement went to the served critic; the policy stayed local
        assert server.calls("/v1/chat/completions")
        # /completions only saw the one-token capability probe (it answers 404 here)
        assert [r.body["prompt"] for r in server.calls("/v1/completions")] == ["Hello there"]
    assert len(run.sft_rows) == 2
    # the revision (shown first in order ab) holds no GOOD, nor does the original: the scripted critic says 0.5
    assert [json.loads(r["params"])["judge_mode"] for r in run.pair_rows] in (
        [],
        ["top-logprobs"] * len(run.pair_rows),
    )
    assert all(rec.label is not None and rec.label.p == pytest.approx(0.5) for rec in run.records)


def test_label_cli_with_a_hosted_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rlaif.cli.main import main
    from rlaif.feedback.responses import write_responses

    write_responses(tmp_path / "responses", _sets(3))
    with _server("no_logprobs") as server:
        args = [
            "label", "-r", tmp_path / "responses", "-c", "principles/hhh.yaml", "-k", "1", "-o", tmp_path / "labels",
            "--critic", "stub-model", "--backend", "openai", "--backend-option", f"base_url={server.url}",
            "--backend-option", "max_retries=0", "--price", "1,2", "--no-progress",
        ]  # fmt: skip
        assert main([str(a) for a in args]) == 0
        # choice-logprobs cannot work on a chat API without logprobs: it fails at once, naming verdict
        assert main([str(a) for a in [*args[:-1], "--judge-mode", "choice-logprobs", "--no-progress"]]) == 1
    err = capsys.readouterr().err
    assert "--judge-mode verdict" in err
    stats = json.loads((tmp_path / "labels" / "stats.json").read_text())
    assert stats["judge_mode"] == "verdict" and stats["labeled"] == 3
    assert stats["critic_usage"]["estimated_cost"] > 0
    assert "estimated critic cost" in (tmp_path / "labels" / "README.md").read_text()


def test_usage_delta_prices_only_this_stage() -> None:
    from rlaif.backends.http_usage import Usage, usage_delta

    u = Usage(input_price_per_mtok=2.0, output_price_per_mtok=10.0)
    u.add_answer({"usage": {"prompt_tokens": 1000, "completion_tokens": 100}})
    before = u.snapshot()
    u.add_answer({"usage": {"prompt_tokens": 500_000, "completion_tokens": 1000}, "system_fingerprint": "fp"})
    u.add_failure()
    d = usage_delta(before, u.snapshot())
    assert d is not None
    assert (d["requests"], d["failed_requests"], d["input_tokens"], d["output_tokens"]) == (
        2,
        1,
        500_000,
        1000,
    )
    assert d["estimated_cost"] == pytest.approx(500_000 * 2.0 / 1e6 + 1000 * 10.0 / 1e6)  # 1.01
    assert Usage().cost is None and u.fingerprints == {"fp"}


def test_best_worst_by_critic_needs_choice_logprobs(templates: TemplateSet) -> None:
    const = Constitution(name="c", principles=(P,))
    with _server("openai_chat") as server, _backend(server) as backend:
        config = LabelConfig(k=1, pairing="best_worst", best_worst_by="critic", progress=False)
        with pytest.raises(RlaifError, match="best_worst"):
            label_dataset(_sets(2), const, backend, templates, config)


def test_auto_prefers_top_logprobs_on_a_vllm_server_even_with_a_local_tokenizer() -> None:
    from rlaif.backends.base import Capabilities, backend_capabilities
    from rlaif.feedback.judge_modes import working_modes

    class Chars:  # one token per character: enough for the echo path to be usable
        bos_token = "<s>"

        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            return {"input_ids": ([1] if add_special_tokens else []) + [ord(c) for c in text]}

        def apply_chat_template(
            self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
        ) -> str:
            return "<s>" + "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"

    with _server("vllm") as server, _backend(server, tokenizer=Chars()) as backend:
        caps = backend_capabilities(backend)
        assert caps.choice_logprobs and caps.local_chat_format and caps.prefers_top_logprobs
        # both work; top-logprobs first (measured 7x faster through vllm serve, equal labels)
        assert working_modes(caps) == ["top-logprobs", "choice-logprobs", "verdict"]
        assert resolve_judge_mode(backend, "auto") == "top-logprobs"
    # a local engine keeps the exact scorer first
    assert working_modes(Capabilities(top_logprobs=True))[0] == "choice-logprobs"
