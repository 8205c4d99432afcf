"""Sampling n responses per prompt from a policy, and the responses dataset.

Each prompt gets its own seed, derived from ``(config.seed, prompt id)`` (:func:`prompt_seed`): the same prompt set
and seed give the same responses on any machine and in any order, a prompt added to the set does not change the
others' responses, and seeded calls are cached, so a killed run resumes without re-sampling.

The responses dataset (``<out>/data.parquet``) has one row per prompt:

``id``, ``split``, ``prompt`` (the conversation: a list of ``{"role", "content"}``), ``responses`` (list of str),
``finish_reasons`` (``"stop"`` or ``"length"`` per response), ``seed`` (the prompt's seed; sample ``j`` is drawn by
the backend from ``(seed, j)``), ``policy_model``, ``policy_revision``, ``params`` (JSON: the sampling parameters),
``truncated`` (the prompt was shortened to fit the context) and ``meta`` (JSON: the prompt file's other fields).

Prompts longer than the context (context length − ``max_new_tokens``, or ``max_prompt_tokens``) are handled by
``overlong``: ``"truncate"`` drops the oldest turns (keeping a system message and the last user turn), then shortens
the last user message keeping its beginning; ``"skip"`` leaves the prompt out; ``"error"`` stops. Truncating and
skipping log a warning naming the prompt ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import Field

from rlaif.backends.base import Backend, ChatMessage, Completion, GenerationRequest, SamplingParams
from rlaif.errors import DataFileError, RlaifError
from rlaif.feedback.dataset_io import read_rows, write_rows
from rlaif.feedback.inputs import PromptRow
from rlaif.fields import BatchPrompts, Progress, Seed, Temperature, TokenCap
from rlaif.seeds import item_seed63
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)

Overlong = Literal["truncate", "skip", "error"]
RESPONSES_FORMAT = "rlaif-responses/1"


class GenerateConfig(StrictConfig):
    """How responses are sampled (``rlaif generate`` options and a pipeline's ``generate:`` section map 1:1 onto
    these fields)."""

    n: int = Field(
        default=2,
        ge=1,
        description="responses per prompt (2 for pairwise labels; more for best-vs-worst or all-pairs pairing)",
    )
    max_new_tokens: TokenCap = Field(default=256, description="length cap of each response, in tokens")
    temperature: Temperature = Field(
        default=1.0,
        description="sampling temperature (1.0, as the RLAIF papers sample the policy; 0 = greedy, then every "
        "response of a prompt is the same)",
    )
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="nucleus sampling mass, in (0, 1]")
    seed: Seed = Field(default=0, description="base seed; each prompt's seed is prompt_seed(seed, prompt id)")
    stop: tuple[str, ...] = Field(default=(), description="extra stop strings")
    overlong: Overlong = Field(
        default="truncate",
        description="prompts longer than the context: truncate (oldest turns first), skip them, or error",
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        ge=1,
        description="prompt token budget; null = the model's context length - max_new_tokens (when the backend "
        "reports one)",
    )
    batch_prompts: BatchPrompts = 32
    progress: Progress = True

    def sampling(self, seed: int) -> SamplingParams:
        """The sampling parameters of one prompt."""
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            n=self.n,
            stop=self.stop,
            seed=seed,
        )

    def params_record(self) -> dict[str, Any]:
        """The parameters recorded on every row (what changes the responses)."""
        return {
            "n": self.n,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ResponseSet:
    """The n responses sampled for one prompt, with what is needed to reproduce them."""

    prompt: PromptRow
    responses: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    seed: int
    policy_model: str
    policy_revision: str
    params: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


def prompt_seed(seed: int, prompt_id: str) -> int:
    """A 63-bit seed for one prompt from the run's seed and the prompt id (stable across processes)."""
    return item_seed63(seed, prompt_id)


# -- context budget ------------------------------------------------------------------------------------------


def _inner(backend: Backend) -> Any:
    return getattr(backend, "backend", backend)


def context_length(backend: Backend) -> int | None:
    """The model's context length when the backend can tell (None otherwise)."""
    inner = _inner(backend)
    for attr in ("max_context_tokens", "context_length", "max_model_len"):
        value = getattr(inner, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    config = getattr(getattr(inner, "model", None), "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def token_counter(backend: Backend) -> Callable[[tuple[ChatMessage, ...]], int]:
    """Counts a conversation's prompt tokens as the policy sees them (characters when it has no tokenizer)."""
    inner = _inner(backend)
    encode = getattr(inner, "encode_prompt", None)
    if callable(encode):
        return lambda conv: len(encode(conv))
    return lambda conv: len(backend.format_chat(conv))


def _truncate(
    conversation: tuple[ChatMessage, ...], budget: int, count: Callable[[tuple[ChatMessage, ...]], int]
) -> tuple[ChatMessage, ...] | None:
    """The conversation shortened to ``budget`` tokens (see the module doc), or None if even that cannot fit."""
    conv = list(conversation)
    head = [conv.pop(0)] if conv and conv[0].role == "system" else []
    # drop the oldest turns first: the last user turn is what is being answered
    while len(conv) > 1 and count(tuple(head + conv)) > budget:
        conv.pop(0)
    while conv and conv[0].role == "assistant" and len(conv) > 1:
        conv.pop(0)
    if count(tuple(head + conv)) <= budget:
        return tuple(head + conv)
    last = conv[-1]
    lo, hi = 0, len(last.content)
    fits = None
    while lo <= hi:  # longest prefix of the last message that fits
        mid = (lo + hi) // 2
        trial = tuple([*head, *conv[:-1], ChatMessage(last.role, last.content[:mid])])
        if count(trial) <= budget:
            fits, lo = trial, mid + 1
        else:
            hi = mid - 1
    if fits is None or not fits[-1].content.strip():
        return None
    return fits


def prompt_room(context: int, max_new_tokens: int) -> int:
    """The prompt tokens a ``context``-token model has room for before ``max_new_tokens`` new ones; an error
    naming ``max_new_tokens`` when that leaves none."""
    room = context - max_new_tokens
    if room < 1:
        raise RlaifError(
            f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's {context}-token context",
            field="max_new_tokens",
        )
    return room


def fit_prompts(
    policy: Backend, prompts: Sequence[PromptRow], config: GenerateConfig
) -> list[tuple[PromptRow, bool]]:
    """Apply the ``overlong`` policy: (prompt, was it truncated) for each prompt kept."""
    budget = config.max_prompt_tokens
    if budget is None:
        ctx = context_length(policy)
        if ctx is None:
            return [(p, False) for p in prompts]
        budget = prompt_room(ctx, config.max_new_tokens)
    count = token_counter(policy)
    kept: list[tuple[PromptRow, bool]] = []
    too_long: list[str] = []
    dropped: list[str] = []
    for p in prompts:
        if count(p.conversation) <= budget:
            kept.append((p, False))
            continue
        too_long.append(p.id)
        if config.overlong == "error":
            continue
        if config.overlong == "skip":
            dropped.append(p.id)
            continue
        short = _truncate(p.conversation, budget, count)
        if short is None:
            dropped.append(p.id)
            continue
        kept.append((PromptRow(p.id, short, p.split, p.meta), True))
    if too_long and config.overlong == "error":
        raise RlaifError(
            f"{len(too_long)} prompt(s) are longer than {budget} tokens: {_ids(too_long)}",
            field="overlong",
            hint="pass --overlong truncate or --overlong skip, or lower --max-new-tokens",
        )
    if too_long and config.overlong == "truncate":
        truncated = [i for i in too_long if i not in dropped]
        if truncated:
            log.warning("truncated %d prompt(s) to %d tokens: %s", len(truncated), budget, _ids(truncated))
    if dropped:
        log.warning("skipped %d prompt(s) longer than %d tokens: %s", len(dropped), budget, _ids(dropped))
    return kept


def _ids(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# -- generation ------------------------------------------------------------------------------------------------


@runtime_checkable
class PolicyPool(Protocol):
    """A policy that runs elsewhere, a batch at a time (e.g. :class:`rlaif.scale.RayBackendPool` on a Ray cluster).

    :func:`generate_responses` hands it the same batches of requests, in the same order, that it would send to a
    local backend, so both executors write the same dataset. ``model_id`` / ``model_revision`` are read after the
    work is done.
    """

    model_id: str
    model_revision: str

    def fit_prompts(
        self, prompts: Sequence[PromptRow], config: GenerateConfig
    ) -> list[tuple[PromptRow, bool]]:
        """What :func:`fit_prompts` returns for the policy model."""
        ...

    def generate_batches(
        self, batches: Sequence[Sequence[GenerationRequest]]
    ) -> Iterator[tuple[int, list[list[Completion]]]]:
        """``(batch index, the backend's generate of that batch)`` for every batch, in any order."""
        ...


def generate_responses(
    policy: Backend | PolicyPool, prompts: Sequence[PromptRow], config: GenerateConfig = GenerateConfig()
) -> list[ResponseSet]:
    """Sample ``config.n`` responses for each prompt (in prompt order; overlong prompts per ``config.overlong``).

    Wrap ``policy`` in :class:`~rlaif.feedback.call_cache.CachedBackend` to make a killed run resume: every call
    is seeded, hence cached, and committed per batch of ``config.batch_prompts`` prompts. A :class:`PolicyPool`
    (e.g. a Ray actor pool) runs the same batches elsewhere and gives the same responses.
    """
    if isinstance(policy, PolicyPool):
        return _generate_on_pool(policy, prompts, config)
    fitted = fit_prompts(policy, prompts, config)
    params = config.params_record()
    out: list[ResponseSet] = []
    batches = [fitted[i : i + config.batch_prompts] for i in range(0, len(fitted), config.batch_prompts)]
    log.info(
        "sampling %d response(s) for each of %d prompt(s) from %s (temperature %g, top_p %g, seed %d)",
        config.n,
        len(fitted),
        policy.model_id,
        config.temperature,
        config.top_p,
        config.seed,
    )
    bar = _progress(len(fitted), "responses", config.progress)
    try:
        for batch in batches:
            seeds = [prompt_seed(config.seed, p.id) for p, _ in batch]
            requests = [
                GenerationRequest(p.conversation, config.sampling(s))
                for (p, _), s in zip(batch, seeds, strict=True)
            ]
            completions = policy.generate(requests)
            out += [
                _response_set(p, truncated, s, cs, policy.model_id, policy.model_revision, params)
                for (p, truncated), s, cs in zip(batch, seeds, completions, strict=True)
            ]
            bar.update(len(batch))
    finally:
        bar.close()
    return out


def _response_set(
    prompt: PromptRow,
    truncated: bool,
    seed: int,
    completions: Sequence[Completion],
    model_id: str,
    revision: str,
    params: dict[str, Any],
) -> ResponseSet:
    return ResponseSet(
        prompt=prompt,
        responses=tuple(c.text for c in completions),
        finish_reasons=tuple(c.finish_reason for c in completions),
        seed=seed,
        policy_model=model_id,
        policy_revision=revision,
        params=params,
        truncated=truncated,
    )


def _generate_on_pool(
    pool: PolicyPool, prompts: Sequence[PromptRow], config: GenerateConfig
) -> list[ResponseSet]:
    """:func:`generate_responses` with the pool doing the model's work: the same batches, assembled in order."""
    fitted = pool.fit_prompts(prompts, config)
    params = config.params_record()
    batches = [fitted[i : i + config.batch_prompts] for i in range(0, len(fitted), config.batch_prompts)]
    seeds = [[prompt_seed(config.seed, p.id) for p, _ in batch] for batch in batches]
    requests = [
        [GenerationRequest(p.conversation, config.sampling(s)) for (p, _), s in zip(batch, ss, strict=True)]
        for batch, ss in zip(batches, seeds, strict=True)
    ]
    log.info(
        "sampling %d response(s) for each of %d prompt(s) from %s (temperature %g, top_p %g, seed %d)",
        config.n,
        len(fitted),
        pool.model_id,
        config.temperature,
        config.top_p,
        config.seed,
    )
    done: list[list[list[Completion]] | None] = [None] * len(batches)
    bar = _progress(len(fitted), "responses", config.progress)
    try:
        for b, answers in pool.generate_batches(requests):
            if len(answers) != len(batches[b]):
                raise RuntimeError(f"batch {b}: {len(answers)} results for {len(batches[b])} prompts")
            done[b] = answers
            bar.update(len(answers))
    finally:
        bar.close()
    out: list[ResponseSet] = []
    for batch, ss, completions in zip(batches, seeds, done, strict=True):
        if completions is None:
            raise RuntimeError("the policy pool returned no responses for a batch")
        out += [
            _response_set(p, truncated, s, cs, pool.model_id, pool.model_revision, params)
            for (p, truncated), s, cs in zip(batch, ss, completions, strict=True)
        ]
    return out


def _progress(total: int, unit: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit[:-1] if unit.endswith("s") else unit, disable=not enabled, desc=unit)


# -- the dataset ---------------------------------------------------------------------------------------------


def response_rows(sets: Sequence[ResponseSet]) -> list[dict[str, Any]]:
    """The rows of the responses dataset (see the module doc)."""
    return [
        {
            "id": s.prompt.id,
            "split": s.prompt.split,
            "prompt": [asdict(m) for m in s.prompt.conversation],
            "responses": list(s.responses),
            "finish_reasons": list(s.finish_reasons),
            "seed": s.seed,
            "policy_model": s.policy_model,
            "policy_revision": s.policy_revision,
            "params": s.params,
            "truncated": s.truncated,
            "meta": dict(s.prompt.meta),
        }
        for s in sets
    ]


def write_responses(out_dir: str | Path, sets: Sequence[ResponseSet]) -> Path:
    """Write the responses dataset to ``<out_dir>/data.parquet`` (atomic, deterministic)."""
    return write_rows(out_dir, response_rows(sets), json_columns=("params", "meta"))


def read_responses(path: str | Path) -> list[ResponseSet]:
    """Read a responses dataset written by :func:`write_responses` (a folder or its parquet file)."""
    rows = read_rows(path)
    file = Path(path)
    required = ("id", "prompt", "responses")
    sets: list[ResponseSet] = []
    for number, row in enumerate(rows, start=1):
        missing = [c for c in required if c not in row]
        if missing:
            raise DataFileError(
                f"not a responses dataset: row {number} has no {', '.join(repr(m) for m in missing)}",
                path=file,
                hint="make one with `rlaif generate`",
            )
        try:
            conversation = tuple(ChatMessage(m["role"], m["content"]) for m in row["prompt"])
            responses = tuple(str(r) for r in row["responses"])
            reasons = tuple(row.get("finish_reasons") or ["stop"] * len(responses))
            params = _json(row.get("params"))
            meta = _json(row.get("meta"))
        except (TypeError, KeyError, ValueError) as e:
            raise DataFileError(f"row {number} is malformed: {e}", path=file) from e
        if not conversation:
            raise DataFileError(f"row {number} has an empty prompt", path=file, field="prompt")
        sets.append(
            ResponseSet(
                prompt=PromptRow(str(row["id"]), conversation, str(row.get("split") or "train"), meta),
                responses=responses,
                finish_reasons=reasons,
                seed=int(row.get("seed") or 0),
                policy_model=str(row.get("policy_model") or ""),
                policy_revision=str(row.get("policy_revision") or ""),
                params=params,
                truncated=bool(row.get("truncated") or False),
            )
        )
    return sets


def _json(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    loaded = json.loads(value)
    if not isinstance(loaded, dict):
        raise ValueError("expected a JSON object")
    return loaded


__all__ = [
    "GenerateConfig",
    "Overlong",
    "PolicyPool",
    "ResponseSet",
    "context_length",
    "fit_prompts",
    "generate_responses",
    "prompt_seed",
    "read_responses",
    "response_rows",
    "write_responses",
]
