"""The shared conformance suite: what every :class:`rlaif.backends.base.Backend` must do, one check per function.

Each ``check_*(backend)`` asserts one expectation of the protocol and raises ``AssertionError`` (or calls
``pytest.skip`` when the backend's tokenisation makes the check impossible for the text it produced). They use short
prompts and few tokens, so they run in seconds on a tiny model and in well under a minute on the embedded one.

Use from any test module (the file is loaded by path because tests/ is not a package)::

    import importlib.util, pathlib
    _spec = importlib.util.spec_from_file_location(
        "rlaif_conformance", pathlib.Path(__file__).parents[1] / "conformance" / "conformance.py")
    conformance = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(conformance)

    @pytest.mark.parametrize("check", conformance.ALL_CHECKS, ids=lambda c: c.__name__)
    def test_my_backend_conforms(my_backend, check):
        check(my_backend)

or ``conformance.run_all_checks(backend)`` to run them all in one test (stops at the first failure, naming it).
Numeric checks take ``tol`` (absolute, on summed log-probabilities): the default suits fp32; pass a looser one
(e.g. ``functools.partial(check, tol=0.05)``) for bf16 GPU engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from rlaif.backends.base import (
    Backend,
    ChatMessage,
    Completion,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
)

GREEDY = SamplingParams(max_new_tokens=8, temperature=0.0)
PROMPTS = (
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "Q: What is two plus two?\nA:",
)
CHAT = (
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "Name a colour of the sky."),
)


def _greedy(backend: Backend, prompt: str | tuple[ChatMessage, ...], **kw: object) -> Completion:
    params = SamplingParams(**{"max_new_tokens": 8, "temperature": 0.0, **kw})  # type: ignore[arg-type]
    (out,) = backend.generate([GenerationRequest(prompt, params)])
    assert len(out) == 1
    return out[0]


def check_empty_request_lists(backend: Backend) -> None:
    """No requests in, no results out (and no error)."""
    assert backend.generate([]) == []
    assert backend.score([]) == []


def check_n_completions_in_order(backend: Backend) -> None:
    """``params.n`` completions per request, one list per request, in request order."""
    reqs = [
        GenerationRequest(PROMPTS[0], SamplingParams(max_new_tokens=4, temperature=1.0, n=1, seed=1)),
        GenerationRequest(PROMPTS[1], SamplingParams(max_new_tokens=4, temperature=1.0, n=3, seed=2)),
        GenerationRequest(PROMPTS[2], SamplingParams(max_new_tokens=4, temperature=0.0, n=2)),
    ]
    out = backend.generate(reqs)
    assert [len(x) for x in out] == [1, 3, 2]
    # order: each request's outputs equal what it gets alone (same seeds)
    for req, got in zip(reqs, out, strict=True):
        alone = backend.generate([req])[0]
        assert [c.token_ids for c in got] == [c.token_ids for c in alone]


def check_finish_reason_and_max_new_tokens(backend: Backend) -> None:
    """finish_reason is "stop" or "length"; no completion exceeds max_new_tokens; "length" means it hit the cap."""
    for max_new in (1, 5):
        reqs = [
            GenerationRequest(p, SamplingParams(max_new_tokens=max_new, temperature=0.0)) for p in PROMPTS
        ]
        for (c,) in backend.generate(reqs):
            assert c.finish_reason in ("stop", "length")
            assert len(c.token_ids) <= max_new
            if c.finish_reason == "length":
                assert len(c.token_ids) == max_new
            assert isinstance(c.text, str)


def check_greedy_is_deterministic(backend: Backend) -> None:
    """Greedy decoding gives the same text and tokens every time."""
    a = _greedy(backend, PROMPTS[1], max_new_tokens=12)
    b = _greedy(backend, PROMPTS[1], max_new_tokens=12)
    assert (a.text, a.token_ids, a.finish_reason) == (b.text, b.token_ids, b.finish_reason)


def check_seeded_sampling_is_reproducible(backend: Backend) -> None:
    """Same seed → same samples; the n samples of one request differ from each other; another seed differs."""
    params = SamplingParams(max_new_tokens=24, temperature=1.0, n=2, seed=1234)
    req = GenerationRequest(PROMPTS[1], params)
    first = backend.generate([req])[0]
    again = backend.generate([req])[0]
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert first[0].token_ids != first[1].token_ids, "the n samples of one request should differ"
    other = backend.generate([GenerationRequest(PROMPTS[1], SamplingParams(**{**vars(params), "seed": 99}))])[
        0
    ]
    assert [c.token_ids for c in other] != [c.token_ids for c in first]


def check_stop_strings_cut_text(backend: Backend) -> None:
    """A stop string ends generation: the text is cut before it and finish_reason is "stop"."""
    full = _greedy(backend, PROMPTS[1], max_new_tokens=16)
    text = full.text
    stop = next((text[i : i + 2] for i in range(2, len(text) - 1) if text[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip(f"greedy text too short to pick a stop string from: {text!r}")
    cut = _greedy(backend, PROMPTS[1], max_new_tokens=16, stop=(stop,))
    assert cut.finish_reason == "stop"
    assert cut.text == text[: text.index(stop)]
    assert stop not in cut.text
    assert len(cut.token_ids) <= len(full.token_ids)


def check_logprobs_when_asked(backend: Backend) -> None:
    """With logprobs=True each returned token has one finite log-probability ≤ 0."""
    c = _greedy(backend, PROMPTS[0], max_new_tokens=6, logprobs=True)
    assert c.logprobs is not None
    assert len(c.logprobs) == len(c.token_ids)
    assert all(math.isfinite(x) and x <= 1e-6 for x in c.logprobs)


def check_chat_equals_formatted_text(backend: Backend) -> None:
    """A chat prompt is the text ``format_chat`` gives: both prompts generate the same greedy tokens."""
    text = backend.format_chat(CHAT)
    assert isinstance(text, str) and CHAT[-1].content in text
    a = _greedy(backend, CHAT)
    b = _greedy(backend, text)
    assert a.token_ids == b.token_ids and a.text == b.text


def check_score_shapes_and_signs(backend: Backend) -> None:
    """One result per request, one finite log-prob ≤ 0 per continuation, token counts ≥ 1 and additive in length."""
    reqs = [
        ScoreRequest(PROMPTS[0], (" Paris", " London", " Paris Paris Paris")),
        ScoreRequest(PROMPTS[2], (" 4",)),
    ]
    out = backend.score(reqs)
    assert len(out) == 2
    assert [len(r.logprobs) for r in out] == [3, 1]
    assert [len(r.num_tokens) for r in out] == [3, 1]
    for r in out:
        assert all(math.isfinite(x) and x <= 1e-6 for x in r.logprobs)
        assert all(n >= 1 for n in r.num_tokens)
    assert out[0].num_tokens[2] > out[0].num_tokens[0]
    assert out[0].logprobs[2] < out[0].logprobs[0]  # more tokens of the same text cost more


def check_score_batch_equals_single(backend: Backend, tol: float = 1e-4) -> None:
    """Scoring requests together gives what each gets alone (batching, sharing and padding change nothing)."""
    reqs = [
        ScoreRequest(PROMPTS[1], (" a", " an old fisherman")),
        ScoreRequest(PROMPTS[1] + " an old", (" fisherman", " woman")),
        ScoreRequest(PROMPTS[0], (" Paris",)),
        ScoreRequest(PROMPTS[1], (" a",)),
    ]
    together = backend.score(reqs)
    for req, got in zip(reqs, together, strict=True):
        (alone,) = backend.score([req])
        assert got.num_tokens == alone.num_tokens
        for x, y in zip(got.logprobs, alone.logprobs, strict=True):
            assert abs(x - y) <= tol, (req, got, alone)


def check_generate_batch_equals_single(backend: Backend) -> None:
    """Greedy outputs do not depend on what else is in the batch (prompts of different lengths)."""
    reqs = [GenerationRequest(p, GREEDY) for p in PROMPTS]
    together = backend.generate(reqs)
    for req, got in zip(reqs, together, strict=True):
        alone = backend.generate([req])[0]
        assert got[0].token_ids == alone[0].token_ids


def check_multi_token_continuations_add_up(backend: Backend, tol: float = 1e-3) -> None:
    """score(p, c1 + c2) == score(p, c1) + score(p + c1, c2) when the tokens split at the same place."""
    p, c1, c2 = PROMPTS[0], " a city", " in Europe"
    whole, first, second = backend.score(
        [ScoreRequest(p, (c1 + c2,)), ScoreRequest(p, (c1,)), ScoreRequest(p + c1, (c2,))]
    )
    if whole.num_tokens[0] != first.num_tokens[0] + second.num_tokens[0]:
        pytest.skip("this tokenizer merges tokens across the split")
    assert abs(whole.logprobs[0] - (first.logprobs[0] + second.logprobs[0])) <= tol


def check_score_agrees_with_generate_logprobs(backend: Backend, tol: float = 1e-3) -> None:
    """The summed per-token log-probs of a greedy completion equal score(prompt, its text)."""
    for prompt in PROMPTS:
        for max_new in (6, 3, 1):
            c = _greedy(backend, prompt, max_new_tokens=max_new, logprobs=True)
            if not c.token_ids or not c.text:
                continue
            (r,) = backend.score([ScoreRequest(prompt, (c.text,))])
            if r.num_tokens[0] != len(c.token_ids):
                continue  # the text does not re-tokenise to the same tokens (e.g. a split UTF-8 character)
            assert c.logprobs is not None
            assert abs(sum(c.logprobs) - r.logprobs[0]) <= tol * max(1.0, len(c.token_ids))
            return
    pytest.skip("no greedy completion re-tokenised to its own tokens")


def check_greedy_token_is_argmax_of_scores(backend: Backend) -> None:
    """The greedy first token scores at least as high as any other single-token continuation."""
    prompt = PROMPTS[0]
    first = _greedy(backend, prompt, max_new_tokens=1)
    if not first.text or first.finish_reason == "stop":
        pytest.skip("greedy decoding stopped at once")
    alts = (" Paris", " the", " a", "\n", " London", ".", ",", "1", " A", "e")
    (r,) = backend.score([ScoreRequest(prompt, (first.text, *alts))])
    if r.num_tokens[0] != 1:
        pytest.skip("the greedy token's text does not re-tokenise to one token")
    best = r.logprobs[0]
    singles = [lp for lp, n in zip(r.logprobs[1:], r.num_tokens[1:], strict=True) if n == 1]
    assert singles, "no single-token alternative to compare with"
    assert all(best >= lp - 1e-5 for lp in singles)


ALL_CHECKS: tuple[Callable[[Backend], None], ...] = (
    check_empty_request_lists,
    check_n_completions_in_order,
    check_finish_reason_and_max_new_tokens,
    check_greedy_is_deterministic,
    check_seeded_sampling_is_reproducible,
    check_stop_strings_cut_text,
    check_logprobs_when_asked,
    check_chat_equals_formatted_text,
    check_score_shapes_and_signs,
    check_score_batch_equals_single,
    check_generate_batch_equals_single,
    check_multi_token_continuations_add_up,
    check_score_agrees_with_generate_logprobs,
    check_greedy_token_is_argmax_of_scores,
)


def run_all_checks(backend: Backend) -> None:
    """Run every check; skips are allowed, the first failure raises naming its check."""
    for check in ALL_CHECKS:
        try:
            check(backend)
        except pytest.skip.Exception:
            continue
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__} failed on backend {backend.name!r}: {exc}") from exc
