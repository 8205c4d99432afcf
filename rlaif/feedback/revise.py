"""Critique → revision: supervised data and checked preference pairs from a constitution.

The constitutional AI recipe (Bai et al., 2022, the supervised stage), with one deliberate addition: the open recipes
assume a revision is better than the response it revises; here the critic is asked, and by default a revision
becomes "chosen" only if the critic prefers it over the original in both answer orders.

Run it from the command line::

    rlaif revise --prompts data/prompts/smoke.jsonl --constitution principles/hhh.yaml \\
        --policy smollm2 --critic smollm2 -r 1 -o out/revisions

For every prompt: the policy's initial response (generated, or read from a responses dataset), then up to ``rounds``
rounds of

1. one principle sampled (weighted, seeded by ``(seed, prompt id, round)``, so adding prompts or rounds never
   changes the principles drawn for the others);
2. a critique of the current response under that principle (``critique.j2``, written by the critic);
3. a revision in the light of the critique (``revise.j2``, written by the policy, as in the paper, where the model
   revises its own response; ``reviser="critic"`` lets the critic write it instead).

The constitution's few-shot ``examples`` (worked critique/revision chats) are prepended to both requests as chat
turns (their system messages first, then the other turns in file order). A round stops the loop when its critique or
revision comes back empty, when the revision equals the response it revises (whitespace aside), or when the
revision was cut at ``revision_max_new_tokens`` (a truncated reply would teach the policy to stop mid-sentence).

Boilerplate small models put around a revision is removed before it is used (see :func:`clean_revision`):
leading labels such as ``Revision:``, ``Revised response:``, ``Sure! Here is the revised response:`` (with or
without ``**bold**``), the template's own ``<response>``/``<revision>`` tags at the very start or end of the reply
(or their neutralised look-alikes ``‹response›``), and quotes wrapped around the whole reply. Critiques lose a leading ``Critique:`` label. Nothing else is changed.

Outputs (:func:`write_revise_run`), each a parquet dataset with a card embedding the constitution:

* ``sft/``: TRL's ``messages`` format, the conversation with the final revision as the assistant turn, for every
  prompt whose response was revised at least once (or only the accepted ones, ``sft_filter="accepted"``).
* ``pairs/``: TRL's preference format, ``chosen`` = the final revision, ``rejected`` = the original, for every
  accepted revision. ``prompt`` is plain text when every conversation of the run is a single user turn, else a
  list of ``{role, content}`` messages (and ``chosen``/``rejected`` are then one-message assistant lists).

Acceptance (``accept``): ``"both_orders"`` (the critic prefers the revision in both orders under every principle
used in its rounds), ``"mean"`` (the order- and principle-averaged p(revision ≻ original) > 0.5) or ``"always"``
(the open-recipe assumption; the critic is still asked, so the report shows how many revisions it did not prefer).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlaif.backends.base import Backend, ChatMessage, GenerationRequest, SamplingParams
from rlaif.constitution import (
    Constitution,
    Principle,
    constitution_hash,
    filter_principles,
    sample_principles,
)
from rlaif.errors import DataFileError, RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.judge import JudgeConfig, PairToJudge, Unlabeled, judge_pairs_detailed
from rlaif.feedback.provenance import is_conversational, trl_columns
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet
from rlaif.seeds import derive_seed

log = logging.getLogger(__name__)

AcceptMode = Literal["both_orders", "mean", "always"]
ACCEPT_MODES: tuple[str, ...] = ("both_orders", "mean", "always")

SFT_DIR = "sft"
PAIRS_DIR = "pairs"


@dataclass(frozen=True)
class ReviseConfig:
    """How critiques and revisions are made and checked (every field maps onto a ``rlaif revise`` option).

    Attributes:
        rounds: critique → revision rounds per prompt (the paper uses up to 4; 1 is the common open recipe).
        accept: when a revision becomes "chosen" over the original: ``both_orders``, ``mean`` or ``always``.
        reviser: who writes the revision: ``policy`` (the paper: the model revises its own response) or ``critic``.
        few_shot: prepend the constitution's ``examples`` to critique and revision requests as chat turns.
        sft_filter: ``all`` revised prompts go to the SFT data (the paper), or only ``accepted`` ones.
        critique_template / revise_template / judge_template: template names (see ``prompts/README.md``).
        critique_temperature / revision_temperature / response_temperature: 0 is greedy; sampled calls are seeded
            per (seed, prompt id, round), so they are reproducible and cached.
        critique_max_new_tokens / revision_max_new_tokens / response_max_new_tokens: length caps.
        drop_truncated: stop (and discard) a revision cut at ``revision_max_new_tokens``.
        response_index: which of each prompt's responses to revise when reading a responses dataset.
        min_choice_mass: the critic's judgement of revision vs original is Unlabeled below this choice mass.
        principle_tags: sample only principles carrying one of these tags (None: all).
        judge_mode: how the critic judges revision vs original (``auto``, ``choice-logprobs``, ``top-logprobs``,
            ``verdict``; see :mod:`rlaif.feedback.judge_modes`).
        seed: drives principle sampling and sampled generation.
        cache: SQLite call cache path; when set, both backends are wrapped in a CachedBackend.
    """

    rounds: int = 1
    accept: AcceptMode = "both_orders"
    reviser: Literal["policy", "critic"] = "policy"
    few_shot: bool = True
    sft_filter: Literal["all", "accepted"] = "all"
    critique_template: str = "critique"
    revise_template: str = "revise"
    judge_template: str = "compare"
    critique_temperature: float = 0.0
    critique_max_new_tokens: int = 256
    revision_temperature: float = 0.0
    revision_max_new_tokens: int = 384
    response_temperature: float = 0.7
    response_max_new_tokens: int = 256
    drop_truncated: bool = True
    response_index: int = 0
    min_choice_mass: float = 0.0
    principle_tags: tuple[str, ...] | None = None
    seed: int = 0
    cache: str | None = None
    judge_mode: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise RlaifError(f"rounds must be an integer >= 1, got {self.rounds!r}", field="rounds")
        if self.accept not in ACCEPT_MODES:
            raise RlaifError(
                f"unknown acceptance mode {self.accept!r}",
                field="accept",
                hint=f"choose one of: {', '.join(ACCEPT_MODES)}",
            )
        if self.reviser not in ("policy", "critic"):
            raise RlaifError(f"reviser must be 'policy' or 'critic', got {self.reviser!r}", field="reviser")
        if self.sft_filter not in ("all", "accepted"):
            raise RlaifError(
                f"sft_filter must be 'all' or 'accepted', got {self.sft_filter!r}", field="sft_filter"
            )
        for name in ("critique_max_new_tokens", "revision_max_new_tokens", "response_max_new_tokens"):
            if getattr(self, name) < 1:
                raise RlaifError(f"{name} must be >= 1", field=name)
        for name in ("critique_temperature", "revision_temperature", "response_temperature"):
            if getattr(self, name) < 0:
                raise RlaifError(f"{name} must be >= 0", field=name)
        if self.response_index < 0:
            raise RlaifError("response_index must be >= 0", field="response_index")
        if not 0.0 <= self.min_choice_mass <= 1.0:
            raise RlaifError("min_choice_mass must be in [0, 1]", field="min_choice_mass")

    def judge_config(self) -> JudgeConfig:
        """The labeler configuration used to compare each revision with its original."""
        return JudgeConfig(
            template=self.judge_template,
            both_orders=True,
            min_choice_mass=self.min_choice_mass,
            seed=self.seed,
            mode=self.judge_mode,
        )

    def params(self) -> dict[str, Any]:
        """The configuration as recorded on every row (the cache path is where, not what: left out)."""
        out = asdict(self)
        out.pop("cache")
        if (
            out["judge_mode"] == "auto"
        ):  # recorded when chosen, so rows written before modes existed still match
            out.pop("judge_mode")
        if out["principle_tags"] is not None:
            out["principle_tags"] = list(out["principle_tags"])
        return out


@dataclass(frozen=True)
class InitialResponse:
    """A response to revise: the conversation it answers, the text and where it came from."""

    id: str
    conversation: tuple[ChatMessage, ...]
    response: str
    source: Literal["generated", "given"] = "given"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RevisionRound:
    """One critique → revision round.

    ``kept`` is False for the round that stopped the loop (``stop`` says why); its critique is still recorded.
    """

    round: int
    principle: str  # id@version
    critique: str
    revision: str
    kept: bool
    stop: str | None = None
    critique_truncated: bool = False


@dataclass
class RevisionRecord:
    """Everything that happened to one prompt."""

    item: InitialResponse
    rounds: list[RevisionRound] = field(default_factory=list)
    stop: str | None = None  # why the loop ended: "rounds", "empty_critique", "empty_revision", ...
    label: SoftLabel | Unlabeled | None = None
    choice_mass: tuple[tuple[float, ...], ...] = ()  # per principle used, per order (ab, ba)
    accepted: bool = False

    @property
    def final(self) -> str:
        """The last kept revision (the original when nothing was kept)."""
        kept = [r for r in self.rounds if r.kept]
        return kept[-1].revision if kept else self.item.response

    @property
    def revised(self) -> bool:
        """Whether at least one revision was kept."""
        return any(r.kept for r in self.rounds)

    def principles_used(self, by_ref: Mapping[str, Principle]) -> tuple[Principle, ...]:
        """The distinct principles of the kept rounds, in order of first use."""
        refs = list(dict.fromkeys(r.principle for r in self.rounds if r.kept))
        return tuple(by_ref[ref] for ref in refs)


@dataclass(frozen=True)
class ReviseStats:
    """Counts for the report and the dataset cards."""

    prompts: int
    revised: int
    accepted: int
    not_preferred: int  # revised, labelled, and failing ``not_preferred_test``
    not_preferred_test: str  # the acceptance mode's test ("mean" for mode "always")
    unlabeled: int
    preferred_both_orders: int
    preferred_mean: int
    stop_reasons: dict[str, int]
    unlabeled_reasons: dict[str, int]
    kept_rounds: dict[int, int]  # number of kept rounds -> prompts

    def summary(self) -> str:
        """A few readable lines."""
        lines = [
            f"prompts: {self.prompts}, revised: {self.revised}, accepted: {self.accepted}",
            f"revisions the critic did not prefer ({self.not_preferred_test} test): {self.not_preferred}",
            f"preferred in both orders: {self.preferred_both_orders}/{self.revised}, "
            f"preferred on average: {self.preferred_mean}/{self.revised}",
            f"unlabeled: {self.unlabeled}",
        ]
        if self.stop_reasons:
            lines.append(
                "loop stopped by: " + ", ".join(f"{k} {v}" for k, v in sorted(self.stop_reasons.items()))
            )
        for reason, n in sorted(self.unlabeled_reasons.items()):
            lines.append(f"  unlabeled ({n}): {reason}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ReviseRun:
    """The result of :func:`revise`: the rows of both datasets, the per-prompt records and the statistics."""

    sft_rows: list[dict[str, Any]]
    pair_rows: list[dict[str, Any]]
    records: list[RevisionRecord]
    stats: ReviseStats
    provenance: dict[str, Any]


def responses_to_revise(sets: Sequence[ResponseSet], index: int = 0) -> list[InitialResponse]:
    """Response ``index`` of each prompt of a responses dataset (:func:`rlaif.feedback.responses.read_responses`)."""
    items = []
    for s in sets:
        if index >= len(s.responses):
            raise RlaifError(
                f"prompt {s.prompt.id} has {len(s.responses)} response(s), so there is no response {index}",
                field="response_index",
                hint="lower --response-index",
            )
        meta = {
            "finish_reason": s.finish_reasons[index] if index < len(s.finish_reasons) else "stop",
            "response_index": index,
            "policy_model": s.policy_model,
        }
        items.append(InitialResponse(s.prompt.id, s.prompt.conversation, s.responses[index], "given", meta))
    return items


# -- cleaning ---------------------------------------------------------------------------------------------------

_BOLD = r"(?:\*\*|__)?"
_REVISION_LABEL = re.compile(
    rf"""^\s*{_BOLD}\s*(?:
        (?:sure|certainly|okay|ok|of\s+course)[!.,]?\s*
    )?(?:
        here(?:'s|\s+is)\s+(?:the|my|a|an|your)\s+(?:revised|rewritten|improved|updated|new)\s+
            (?:response|reply|version|answer)(?:\s+to\s+the\s+user)?
        | (?:revised|rewritten|improved|updated)\s+(?:response|reply|version|answer)
        | revision
    )\s*{_BOLD}\s*:\s*{_BOLD}[ \t]*\n?""",
    re.IGNORECASE | re.VERBOSE,
)
_CRITIQUE_LABEL = re.compile(rf"^\s*{_BOLD}\s*critique\s*{_BOLD}\s*:\s*{_BOLD}[ \t]*\n?", re.IGNORECASE)
# the templates' own tags (or their neutralised look-alikes) wrapped around the whole reply
_WRAPPING_TAG = re.compile(
    r"^\s*[<‹](response|revision|revised_response)[>›]\s*(.*?)\s*[<‹]/\1[>›]\s*$", re.DOTALL | re.IGNORECASE
)
# ... or only opened (or only closed): small models often echo the opening tag and stop at the length cap
_LEADING_TAG = re.compile(r"^\s*[<‹](?:response|revision|revised_response)[>›][ \t]*\n?", re.IGNORECASE)
_TRAILING_TAG = re.compile(r"\n?[ \t]*[<‹]/(?:response|revision|revised_response)[>›]\s*$", re.IGNORECASE)
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"))


def _strip_wrapping_quotes(text: str) -> str:
    for left, right in _QUOTES:
        inner = text[len(left) : -len(right)]
        if (
            len(text) >= 2
            and text.startswith(left)
            and text.endswith(right)
            and left not in inner.replace(right, left)
        ):
            return inner.strip()
    return text


def clean_revision(text: str) -> str:
    """The revision without the boilerplate models put around it (see the module docstring for the exact list)."""
    out = text.strip()
    for _ in range(3):  # labels and wrappers can nest ("**Revised response:** \"...\"")
        before = out
        out = _REVISION_LABEL.sub("", out, count=1).strip()
        wrapped = _WRAPPING_TAG.match(out)
        if wrapped:
            out = wrapped.group(2).strip()
        out = _TRAILING_TAG.sub("", _LEADING_TAG.sub("", out, count=1), count=1).strip()
        out = _strip_wrapping_quotes(out)
        if out == before:
            break
    return out


def clean_critique(text: str) -> str:
    """The critique without a leading ``Critique:`` label."""
    return _CRITIQUE_LABEL.sub("", text.strip(), count=1).strip()


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


# -- helpers ----------------------------------------------------------------------------------------------------


def few_shot_turns(constitution: Constitution) -> tuple[ChatMessage, ...]:
    """The constitution's examples as chat turns: their system messages first (chat templates accept a system
    message only at the start), then every other turn in file order."""
    system = [m.content for ex in constitution.examples for m in ex.messages if m.role == "system"]
    turns = [ChatMessage(role=m.role, content=m.content) for ex in constitution.examples for m in ex.messages]
    rest = tuple(m for m in turns if m.role != "system")
    head = (ChatMessage(role="system", content="\n\n".join(system)),) if system else ()
    return head + rest


def _params(temperature: float, max_new_tokens: int, seed: int) -> SamplingParams:
    # greedy calls need no seed (and a seed would only fragment the cache)
    return SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        n=1,
        seed=seed if temperature > 0 else None,
    )


def _messages(conversation: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in conversation]


def _with_principle_prefix(turns: tuple[ChatMessage, ...], request: str) -> tuple[ChatMessage, ...]:
    return (*turns, ChatMessage(role="user", content=request))


def _wrap_cached(backend: Backend, cache: Any) -> Backend:
    from rlaif.feedback.call_cache import CachedBackend

    if isinstance(backend, CachedBackend):
        return backend
    return CachedBackend(backend, cache)


# -- the loop ---------------------------------------------------------------------------------------------------


def _initial_responses(
    policy: Backend, inputs: Sequence[PromptRow | InitialResponse], config: ReviseConfig
) -> list[InitialResponse]:
    given = [x for x in inputs if isinstance(x, InitialResponse)]
    prompts = [x for x in inputs if isinstance(x, PromptRow)]
    if given and prompts:
        raise RlaifError("give either prompts or responses to revise, not a mix of both")
    if not prompts:
        return list(given)
    log.info("generating %d initial response(s) with %s", len(prompts), policy.model_id)
    requests = [
        GenerationRequest(
            prompt=tuple(p.conversation),
            params=_params(
                config.response_temperature,
                config.response_max_new_tokens,
                derive_seed(config.seed, p.id, "response"),
            ),
        )
        for p in prompts
    ]
    out = policy.generate(requests)
    items = []
    for p, completions in zip(prompts, out, strict=True):
        text = completions[0].text.strip() if completions else ""
        meta = {"finish_reason": completions[0].finish_reason if completions else "none", **dict(p.meta)}
        items.append(InitialResponse(p.id, tuple(p.conversation), text, "generated", meta))
    return items


def _run_rounds(
    policy: Backend,
    critic: Backend,
    records: list[RevisionRecord],
    pool: Sequence[Principle],
    templates: TemplateSet,
    shots: tuple[ChatMessage, ...],
    config: ReviseConfig,
) -> None:
    reviser = policy if config.reviser == "policy" else critic
    for rnd in range(config.rounds):
        active = [r for r in records if r.stop is None]
        if not active:
            break
        principles = [
            sample_principles(pool, 1, seed=derive_seed(config.seed, r.item.id, rnd))[0] for r in active
        ]
        log.info("round %d: %d critique(s) by %s", rnd + 1, len(active), critic.model_id)
        critique_requests = []
        for rec, principle in zip(active, principles, strict=True):
            rendered = templates.render(
                config.critique_template,
                conversation=list(rec.item.conversation),
                response=rec.final,
                principle=principle,
            )
            critique_requests.append(
                GenerationRequest(
                    prompt=_with_principle_prefix(shots, rendered.text),
                    params=_params(
                        config.critique_temperature,
                        config.critique_max_new_tokens,
                        derive_seed(config.seed, rec.item.id, rnd, "critique"),
                    ),
                )
            )
        critiques = critic.generate(critique_requests)

        to_revise: list[tuple[RevisionRecord, Principle, str, bool]] = []
        for rec, principle, completions in zip(active, principles, critiques, strict=True):
            critique = clean_critique(completions[0].text) if completions else ""
            truncated = bool(completions) and completions[0].finish_reason == "length"
            if not critique:
                rec.rounds.append(RevisionRound(rnd + 1, principle.ref, "", "", False, "empty_critique"))
                rec.stop = "empty_critique"
                continue
            to_revise.append((rec, principle, critique, truncated))
        if not to_revise:
            break

        log.info("round %d: %d revision(s) by %s", rnd + 1, len(to_revise), reviser.model_id)
        revision_requests = []
        for rec, principle, critique, _ in to_revise:
            rendered = templates.render(
                config.revise_template,
                conversation=list(rec.item.conversation),
                response=rec.final,
                critique=critique,
                principle=principle,
            )
            revision_requests.append(
                GenerationRequest(
                    prompt=_with_principle_prefix(shots, rendered.text),
                    params=_params(
                        config.revision_temperature,
                        config.revision_max_new_tokens,
                        derive_seed(config.seed, rec.item.id, rnd, "revision"),
                    ),
                )
            )
        revisions = reviser.generate(revision_requests)
        for (rec, principle, critique, crit_trunc), completions in zip(to_revise, revisions, strict=True):
            revision = clean_revision(completions[0].text) if completions else ""
            stop: str | None = None
            if not revision:
                stop = "empty_revision"
            elif config.drop_truncated and completions[0].finish_reason == "length":
                stop = "truncated_revision"
            elif _same_text(revision, rec.final):
                stop = "unchanged"
            rec.rounds.append(
                RevisionRound(rnd + 1, principle.ref, critique, revision, stop is None, stop, crit_trunc)
            )
            rec.stop = stop
    for rec in records:
        if rec.stop is None:
            rec.stop = "rounds"


def _accepts(label: SoftLabel | Unlabeled | None, mode: str) -> bool:
    if mode == "always":
        return True
    if not isinstance(label, SoftLabel):
        return False
    if mode == "both_orders":
        return all(j.p_ab > 0.5 and j.p_ba > 0.5 for j in label.judgements)
    return label.p > 0.5


def revise(
    policy: Backend,
    critic: Backend,
    prompts_or_responses: Sequence[PromptRow] | Sequence[InitialResponse],
    constitution: Constitution,
    templates: TemplateSet,
    config: ReviseConfig = ReviseConfig(),
) -> ReviseRun:
    """Critique and revise each response, check each revision with the critic, and build the SFT and pair rows.

    ``prompts_or_responses`` are prompts (the policy answers them first) or responses to revise (e.g. from
    :func:`load_responses`). ``policy`` and ``critic`` may be the same backend object. With ``config.cache`` set,
    every call goes through one :class:`~rlaif.feedback.call_cache.CachedBackend` file, so a killed run resumes.
    Returns the rows; :func:`write_revise_run` writes them.
    """
    if not prompts_or_responses:
        raise RlaifError("nothing to revise: no prompts or responses given")
    if config.cache is None:
        return _revise(policy, critic, prompts_or_responses, constitution, templates, config)
    from rlaif.feedback.call_cache import CallCache

    cache = CallCache(config.cache)
    try:
        cached_policy = _wrap_cached(policy, cache)
        cached_critic = cached_policy if policy is critic else _wrap_cached(critic, cache)
        return _revise(cached_policy, cached_critic, prompts_or_responses, constitution, templates, config)
    finally:
        cache.close()


def _revise(
    policy: Backend,
    critic: Backend,
    prompts_or_responses: Sequence[PromptRow] | Sequence[InitialResponse],
    constitution: Constitution,
    templates: TemplateSet,
    config: ReviseConfig,
) -> ReviseRun:
    pool = filter_principles(constitution, config.principle_tags)
    if not pool:
        raise RlaifError(
            f"no principle of {constitution.name} carries any of the tags {list(config.principle_tags or [])}",
            field="principle_tags",
        )
    by_ref = {p.ref: p for p in constitution.principles}
    shots = few_shot_turns(constitution) if config.few_shot else ()
    if config.few_shot and constitution.examples:
        log.info("prepending %d few-shot turn(s) from the constitution's examples", len(shots))

    items = _initial_responses(policy, prompts_or_responses, config)
    records = [RevisionRecord(item) for item in items]
    for rec in records:
        if not rec.item.response.strip():
            rec.stop = "empty_response"
    _run_rounds(policy, critic, records, pool, templates, shots, config)

    revised = [r for r in records if r.revised]
    pairs = [
        PairToJudge(
            pair_id=f"{r.item.id}:revision",
            conversation=r.item.conversation,
            response_a=r.final,
            response_b=r.item.response,
            principles=r.principles_used(by_ref),
        )
        for r in revised
    ]
    judge_cfg = config.judge_config()
    judged = judge_pairs_detailed(critic, templates, pairs, judge_cfg) if pairs else []
    for rec, j in zip(revised, judged, strict=True):
        rec.label = j.result
        rec.choice_mass = j.choice_mass
        rec.accepted = _accepts(j.result, config.accept)
    compare_hash = judged[0].template_hash if judged else templates.template_hash(config.judge_template)

    provenance = {
        "constitution": constitution.name,
        "constitution_version": constitution.version,
        "constitution_hash": constitution_hash(constitution),
        "template_hashes": {
            "critique": templates.template_hash(config.critique_template),
            "revise": templates.template_hash(config.revise_template),
            "compare": compare_hash,
        },
        "critic_model": critic.model_id,
        "critic_revision": critic.model_revision,
        "policy_model": policy.model_id,
        "policy_revision": policy.model_revision,
        "reviser_model": (policy if config.reviser == "policy" else critic).model_id,
        "params": config.params(),
        "seed": config.seed,
        "few_shot_turns": len(shots),
    }
    conversational = is_conversational([r.item.conversation for r in records])
    sft_rows = [_sft_row(r, provenance) for r in revised if config.sft_filter == "all" or r.accepted]
    pair_rows = [_pair_row(r, provenance, conversational, config.accept) for r in revised if r.accepted]
    stats = _stats(records, config.accept)
    log.info("revise: %s", stats.summary().replace("\n", "; "))
    return ReviseRun(sft_rows, pair_rows, records, stats, provenance)


# -- rows -------------------------------------------------------------------------------------------------------


def _rounds_json(rec: RevisionRecord) -> list[dict[str, Any]]:
    return [asdict(r) for r in rec.rounds]


def _label_columns(rec: RevisionRecord) -> dict[str, Any]:
    label = rec.label
    if isinstance(label, SoftLabel):
        masses = list(rec.choice_mass) or [()] * len(label.judgements)
        return {
            "p_revision": label.p,
            # A = the revision, B = the original (as asked of the critic)
            "judgements": [
                {
                    "principle": f"{j.principle_id}@{j.principle_version}",
                    "p_ab": j.p_ab,
                    "p_ba": j.p_ba,
                    "consistent": j.consistent,
                    "mass_ab": m[0] if len(m) > 0 else None,
                    "mass_ba": m[1] if len(m) > 1 else None,
                }
                for j, m in zip(label.judgements, masses, strict=True)
            ],
            "order_consistent": label.order_consistent,
            "decisive_principle": label.decisive_principle,
            "unlabeled_reason": None,
        }
    return {
        "p_revision": None,
        "judgements": [],
        "order_consistent": None,
        "decisive_principle": None,
        "unlabeled_reason": label.reason if isinstance(label, Unlabeled) else None,
    }


def _common(rec: RevisionRecord, prov: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "prompt_id": rec.item.id,
        "constitution_hash": prov["constitution_hash"],
        "principles": [r.principle for r in rec.rounds if r.kept],
        "template_hash": prov["template_hashes"]["compare"],
        "template_hashes": prov["template_hashes"],
        "critic_model": prov["critic_model"],
        "critic_revision": prov["critic_revision"],
        "policy_model": prov["policy_model"],
        "policy_revision": prov["policy_revision"],
        "reviser_model": prov["reviser_model"],
        "params": prov["params"],
        "seed": prov["seed"],
        "response_source": rec.item.source,
        "original": rec.item.response,
        "revision_rounds": _rounds_json(rec),
        "stop_reason": rec.stop,
        "accepted": rec.accepted,
    }


#: columns stored as JSON strings in both datasets
JSON_COLUMNS = ("template_hashes", "params", "revision_rounds", "judgements")


def _sft_row(rec: RevisionRecord, prov: Mapping[str, Any]) -> dict[str, Any]:
    messages = [*_messages(rec.item.conversation), {"role": "assistant", "content": rec.final}]
    labels = _label_columns(rec)
    return {"messages": messages, **_common(rec, prov), **labels}


def _pair_row(
    rec: RevisionRecord, prov: Mapping[str, Any], conversational: bool, mode: str
) -> dict[str, Any]:
    labels = _label_columns(rec)
    return {
        **trl_columns(rec.item.conversation, rec.final, rec.item.response, conversational=conversational),
        "pair_id": f"{rec.item.id}:revision",
        "p_chosen": labels["p_revision"],
        **_common(rec, prov),
        **{k: v for k, v in labels.items() if k != "p_revision"},
        "accept_mode": mode,
    }


def _stats(records: Sequence[RevisionRecord], mode: str) -> ReviseStats:
    revised = [r for r in records if r.revised]
    labelled = [r for r in revised if isinstance(r.label, SoftLabel)]
    unlabeled = [r for r in revised if isinstance(r.label, Unlabeled)]
    test = mode if mode != "always" else "mean"
    return ReviseStats(
        prompts=len(records),
        revised=len(revised),
        accepted=sum(r.accepted for r in revised),
        not_preferred=sum(not _accepts(r.label, test) for r in labelled),
        not_preferred_test=test,
        unlabeled=len(unlabeled),
        preferred_both_orders=sum(_accepts(r.label, "both_orders") for r in labelled),
        preferred_mean=sum(_accepts(r.label, "mean") for r in labelled),
        stop_reasons=dict(Counter(r.stop or "rounds" for r in records)),
        unlabeled_reasons=dict(Counter(r.label.reason for r in unlabeled if isinstance(r.label, Unlabeled))),
        kept_rounds=dict(Counter(sum(x.kept for x in r.rounds) for r in records)),
    )


# -- writing ----------------------------------------------------------------------------------------------------


def _card(title: str, what: str, run: ReviseRun, constitution: Constitution, rows: int) -> str:
    from rlaif.constitution import dump_constitution_yaml

    prov = run.provenance
    lines = [
        f"# {title}",
        "",
        what,
        "",
        "Made by `rlaif revise` (critique → revision, checked by the critic).",
        "",
        f"- rows: {rows}",
        f"- constitution: {prov['constitution']} (version {prov['constitution_version']}, "
        f"sha256 {prov['constitution_hash']})",
        f"- policy: {prov['policy_model']} ({prov['policy_revision'] or 'no revision'}); "
        f"critic: {prov['critic_model']} ({prov['critic_revision'] or 'no revision'}); "
        f"revisions written by: {prov['reviser_model']}",
        "- templates: " + ", ".join(f"{k} {v[:12]}" for k, v in prov["template_hashes"].items()),
        f"- acceptance: {prov['params']['accept']}; few-shot turns: {prov['few_shot_turns']}; "
        f"seed: {prov['seed']}",
        "",
        "## Statistics",
        "",
        "```",
        run.stats.summary(),
        "```",
        "",
        "## Parameters",
        "",
        "```json",
        json.dumps(prov["params"], indent=2, sort_keys=True),
        "```",
        "",
        "## Constitution",
        "",
        "```yaml",
        dump_constitution_yaml(constitution).rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def _write_dataset(out_dir: Path, rows: list[dict[str, Any]], empty_schema: Mapping[str, Any]) -> None:
    from rlaif.feedback.dataset_io import DATA_FILE, write_rows

    out_dir.mkdir(parents=True, exist_ok=True)
    if rows:
        write_rows(out_dir, rows, json_columns=[c for c in JSON_COLUMNS if c in rows[0]])
        return
    # an empty dataset still gets a file with the right columns, so the next stage loads it and sees zero rows
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlaif.atomic import atomic_write_bytes

    table = pa.Table.from_pylist([], schema=pa.schema(list(empty_schema.items())))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=True)
    atomic_write_bytes(out_dir / DATA_FILE, buf.getvalue())


def write_revise_run(run: ReviseRun, out_dir: str | Path, constitution: Constitution) -> tuple[Path, Path]:
    """Write ``<out_dir>/sft/`` and ``<out_dir>/pairs/`` (parquet + card); returns both folders."""
    import pyarrow as pa

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataFileError("the output path is a file, not a folder", path=out)
    sft_dir, pairs_dir = out / SFT_DIR, out / PAIRS_DIR
    messages_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    _write_dataset(sft_dir, run.sft_rows, {"messages": messages_type, "prompt_id": pa.string()})
    _write_dataset(
        pairs_dir,
        run.pair_rows,
        {"prompt": pa.string(), "chosen": pa.string(), "rejected": pa.string(), "pair_id": pa.string()},
    )
    from rlaif.feedback.dataset_io import write_card

    write_card(
        sft_dir,
        _card(
            "Revisions for supervised fine-tuning",
            "Each row is a conversation whose last (assistant) turn is the final revision of the policy's "
            "response, in TRL's `messages` format. `accepted` and `p_revision` say whether the critic preferred "
            "the revision over the original (filter on them if you want only checked revisions).",
            run,
            constitution,
            len(run.sft_rows),
        ),
    )
    write_card(
        pairs_dir,
        _card(
            "Revision vs original preference pairs",
            "TRL preference format: `chosen` is the final revision, `rejected` the original response. A pair is "
            "kept only when the revision passed the acceptance test; `p_chosen` is the critic's p(revision ≻ "
            "original), averaged over both orders and the principles used.",
            run,
            constitution,
            len(run.pair_rows),
        ),
    )
    log.info(
        "wrote %d SFT row(s) to %s and %d pair(s) to %s",
        len(run.sft_rows),
        sft_dir,
        len(run.pair_rows),
        pairs_dir,
    )
    return sft_dir, pairs_dir


# -- a whole stage from files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviseJob:
    """Everything ``rlaif revise`` needs, from files (a pipeline step builds the same object).

    Give ``prompts`` (the policy answers them first) or ``responses`` (a dataset written by ``rlaif generate``).
    ``policy`` and ``critic`` are model names for ``backend``; the same name gives one shared backend (the model is
    loaded once). The call cache defaults to ``<out>/../.rlaif-cache.sqlite`` (shared by sibling stages).
    """

    constitution: Path
    out: Path
    prompts: Path | None = None
    responses: Path | None = None
    policy: str = "smollm2"
    critic: str = "smollm2"
    backend: str = "transformers"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    critic_backend: str | None = None  # None: the policy's backend
    critic_backend_options: Mapping[str, Any] | None = None  # None: backend_options (same backend)
    templates: Path | None = None
    use_cache: bool = True
    skip_bad_rows: bool = False
    limit: int | None = None
    config: ReviseConfig = ReviseConfig()


def open_backends(
    policy: str,
    critic: str,
    backend: str,
    options: Mapping[str, Any],
    *,
    critic_backend: str | None = None,
    critic_options: Mapping[str, Any] | None = None,
) -> tuple[Backend, Backend]:
    """The policy (reviser) and critic backends, each on its own backend when ``critic_backend`` is given (models
    resolved first: fail fast); one shared object when both are the same model on the same backend."""
    from rlaif.feedback.call_cache import open_backend

    c_backend = critic_backend or backend
    c_options = dict(critic_options) if critic_options is not None else dict(options)
    policy_backend = open_backend(backend, policy, options=dict(options))
    if critic == policy and c_backend == backend and c_options == dict(options):
        return policy_backend, policy_backend
    return policy_backend, open_backend(c_backend, critic, options=c_options)


def run_revise_job(job: ReviseJob) -> tuple[ReviseRun, Path, Path]:
    """Load the inputs, revise, write ``<out>/sft`` and ``<out>/pairs``; returns the run and both folders."""
    from dataclasses import replace

    from rlaif.constitution import load_constitution
    from rlaif.feedback.inputs import load_prompts
    from rlaif.feedback.responses import read_responses

    if (job.prompts is None) == (job.responses is None):
        raise RlaifError(
            "give either --prompts (the policy answers them first) or --responses (from `rlaif generate`)",
            hint="the two are alternatives: pass exactly one",
        )
    if job.limit is not None and job.limit < 1:
        raise RlaifError("limit must be >= 1", field="limit")
    constitution = load_constitution(job.constitution)
    templates = TemplateSet.load(job.templates)
    inputs: list[PromptRow] | list[InitialResponse]
    if job.prompts is not None:
        inputs = load_prompts(job.prompts, skip_bad_rows=job.skip_bad_rows)[: job.limit]
    else:
        assert job.responses is not None
        inputs = responses_to_revise(read_responses(job.responses)[: job.limit], job.config.response_index)
    config = job.config
    if job.use_cache and config.cache is None:
        from rlaif.feedback.call_cache import default_cache_path

        config = replace(config, cache=str(default_cache_path(job.out)))
    if not job.use_cache:
        config = replace(config, cache=None)
    log.info(
        "revise: %d %s, constitution %s, policy %s, critic %s (%s backend), %d round(s), accept=%s",
        len(inputs),
        "prompt(s)" if job.prompts is not None else "response(s)",
        job.constitution,
        job.policy,
        job.critic,
        job.backend,
        config.rounds,
        config.accept,
    )
    policy, critic = open_backends(
        job.policy,
        job.critic,
        job.backend,
        job.backend_options,
        critic_backend=job.critic_backend,
        critic_options=job.critic_backend_options,
    )
    try:
        run = revise(policy, critic, inputs, constitution, templates, config)
    finally:
        policy.close()
        if critic is not policy:
            critic.close()
    sft_dir, pairs_dir = write_revise_run(run, job.out, constitution)
    return run, sft_dir, pairs_dir


__all__ = [
    "ACCEPT_MODES",
    "InitialResponse",
    "ReviseConfig",
    "ReviseJob",
    "ReviseRun",
    "ReviseStats",
    "RevisionRecord",
    "RevisionRound",
    "clean_critique",
    "clean_revision",
    "derive_seed",
    "few_shot_turns",
    "open_backends",
    "responses_to_revise",
    "revise",
    "run_revise_job",
    "write_revise_run",
]
