"""The transformers backend on a tiny random model: prefix-sharing scoring, batched generation, adapters, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from rlaif.backends.base import GenerationRequest, SamplingParams, ScoreRequest  # noqa: E402
from rlaif.backends.prefix_cache import build_trie, distinct_tokens, plan_reads  # noqa: E402
from rlaif.backends.transformers_backend import TransformersBackend, naive_score  # noqa: E402
from rlaif.errors import BackendError  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> Iterator[TransformersBackend]:
    b = TransformersBackend(str(model_dir), device="cpu", dtype="float32", progress=False)
    yield b
    b.close()


CONV = "The user asked a question and the assistant gave an answer. "
MIXED = [
    # one comparison, two orders, three principles: sharing at three depths
    *[
        ScoreRequest(CONV + order + principle + " Answer: (", ("A", "B"))
        for order in (
            "Response A is kinder. Response B is short. ",
            "Response B is kinder. Response A is short. ",
        )
        for principle in ("Which is honest?", "Which is harmless?", "Which is helpful and honest?")
    ],
    ScoreRequest("Rate the response on a scale from 1 to 10. Score:", (" 1", " 7", " 10")),  # no sharing
    ScoreRequest(CONV + "Response A is kinder.", (" Response B is short.", " Choose A.")),  # multi-token
    ScoreRequest(CONV + "Response A is kinder.", (" Response B is short.", " Choose A.")),  # duplicate
    ScoreRequest(CONV, ("Response A", "Response A is kinder.")),  # one continuation a prefix of another
    ScoreRequest("The", (" user asked a question and the assistant",)),  # prompt inside another's prompt
]


def _assert_close(got: list[Any], want: list[Any], tol: float = 1e-4) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.num_tokens == w.num_tokens
        for x, y in zip(g.logprobs, w.logprobs, strict=True):
            assert abs(x - y) <= tol, (g, w)


def test_prefix_sharing_scores_equal_naive_forwards(backend: TransformersBackend) -> None:
    want = naive_score(backend, MIXED)
    _assert_close(backend.score(MIXED), want)
    assert backend.last_computed_tokens < sum(
        len(backend._encode_text(r.prompt)) * len(r.continuations) for r in MIXED
    )


@pytest.mark.parametrize("max_batch_tokens,max_cache_tokens", [(64, 40), (300, 10**6), (10**6, 10**6)])
def test_scores_do_not_depend_on_batching_or_chunking(
    model_dir: Path, max_batch_tokens: int, max_cache_tokens: int
) -> None:
    b = TransformersBackend(
        str(model_dir),
        device="cpu",
        max_batch_tokens=max_batch_tokens,
        max_cache_tokens=max_cache_tokens,
        batch_size=3,
    )
    _assert_close(b.score(MIXED), naive_score(b, MIXED))


def test_no_sharing_mode_equals_sharing(model_dir: Path, backend: TransformersBackend) -> None:
    flat = TransformersBackend(str(model_dir), device="cpu", prefix_sharing=False)
    _assert_close(flat.score(MIXED), backend.score(MIXED))
    assert flat.last_computed_tokens > backend.last_computed_tokens


def test_trie_counts_each_distinct_token_once() -> None:
    seqs = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 6], [1, 2, 3, 4], [7], [1, 2]]
    assert distinct_tokens(seqs) == 7  # 1 2 3 4 5 6 7
    root, paths = build_trie(seqs)
    assert [[(n.start, n.end) for n in p] for p in paths][:3] == [
        [(0, 2), (2, 3), (3, 4)],
        [(0, 2), (2, 3), (3, 4)],
        [(0, 2), (2, 3)],
    ]
    assert paths[0] == paths[3]  # duplicates share their leaf
    levels = plan_reads(root, seqs, [3, 3, 2, 3, 1, 1], paths)
    # single-token continuations after a shared prompt: read at the prompt's last position, leaves never run
    assert sum(n.compute_len for lvl in levels for n in lvl) == 3  # [1 2] and [3]; [7] has nothing to read


def test_empty_continuation_is_an_error(backend: TransformersBackend) -> None:
    with pytest.raises(
        BackendError, match=r"\[transformers backend\] score request 1: continuation 0 \(''\) is empty"
    ):
        backend.score([ScoreRequest("a", (" b",)), ScoreRequest("a", ("",))])


def test_left_padded_batched_greedy_equals_unbatched(backend: TransformersBackend) -> None:
    prompts = [
        "Hi",
        "The critic reads the principle, then the conversation, then writes a critique of",
        "Score: 7",
    ]
    params = SamplingParams(max_new_tokens=10, temperature=0, logprobs=True)
    batched = backend.generate([GenerationRequest(p, params) for p in prompts])
    for p, got in zip(prompts, batched, strict=True):
        (alone,) = backend.generate([GenerationRequest(p, params)])[0]
        assert got[0].token_ids == alone.token_ids
        assert got[0].logprobs == pytest.approx(alone.logprobs, abs=1e-4)
        assert got[0].finish_reason == alone.finish_reason


def test_generation_stops_at_eos_per_sequence(backend: TransformersBackend) -> None:
    prompts = ["The capital of France is", "Water boils at"]
    params = SamplingParams(max_new_tokens=8, temperature=0)
    free = [c[0].token_ids for c in backend.generate([GenerationRequest(p, params) for p in prompts])]
    stop_tok = free[0][2]
    saved = backend.eos_ids
    backend.eos_ids = {stop_tok}
    try:
        got = [c[0] for c in backend.generate([GenerationRequest(p, params) for p in prompts])]
    finally:
        backend.eos_ids = saved
    first = free[0].index(stop_tok)
    assert got[0].token_ids == free[0][:first] and got[0].finish_reason == "stop"
    expect_1 = free[1][: free[1].index(stop_tok)] if stop_tok in free[1] else free[1]
    assert got[1].token_ids == expect_1  # the other row is not cut short by row 0's EOS
    assert got[1].finish_reason == ("stop" if stop_tok in free[1] else "length")


def test_seeded_samples_do_not_depend_on_batch_position(backend: TransformersBackend) -> None:
    req = GenerationRequest(
        "Once upon a time", SamplingParams(max_new_tokens=8, temperature=1.0, seed=7, n=2)
    )
    other = GenerationRequest(
        "Score: 1 2 3 4 5 6 7 8", SamplingParams(max_new_tokens=8, temperature=0.7, seed=1)
    )
    alone = backend.generate([req])[0]
    placed = backend.generate([other, req])[1]
    assert [c.token_ids for c in alone] == [c.token_ids for c in placed]


def test_peft_adapter_changes_scores_and_equals_merged_model(
    model_dir: Path, tmp_path: Path, backend: TransformersBackend
) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(0)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    with_adapter = TransformersBackend(str(model_dir), device="cpu", adapter=tmp_path / "adapter")
    assert "+adapter:" in with_adapter.model_revision
    reqs = MIXED[:4]
    adapted = with_adapter.score(reqs)
    plain = backend.score(reqs)
    assert (
        max(
            abs(a - b)
            for x, y in zip(adapted, plain, strict=True)
            for a, b in zip(x.logprobs, y.logprobs, strict=True)
        )
        > 1e-3
    )
    merged = peft_model.merge_and_unload()
    merged_backend = TransformersBackend(merged, tokenizer=backend.tokenizer)
    _assert_close(adapted, merged_backend.score(reqs))
    _assert_close(adapted, naive_score(with_adapter, reqs))


def test_out_of_memory_becomes_a_clear_backend_error(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = TransformersBackend(str(model_dir), device="cpu", batch_size=8, max_batch_tokens=999)

    def oom(**kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(b, "_decoder_call", oom)
    with pytest.raises(BackendError) as info:
        b.score([ScoreRequest("a b c", (" d",))])
    msg = str(info.value)
    assert msg.startswith("[transformers backend] out of memory while scoring")
    assert "lower batch_size (now 8) or max_batch_tokens (now 999)" in msg
    monkeypatch.setattr(b, "_lm", lambda **kw: oom())
    with pytest.raises(BackendError, match="out of memory while generating"):
        b.generate([GenerationRequest("a")])


def test_loaded_model_needs_its_tokenizer(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    with pytest.raises(BackendError, match="needs its tokenizer"):
        TransformersBackend(AutoModelForCausalLM.from_pretrained(model_dir))


def test_chat_prompt_uses_the_chat_template(backend: TransformersBackend) -> None:
    from rlaif.backends.base import ChatMessage

    text = backend.format_chat((ChatMessage("user", "hello"),))
    assert text == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
