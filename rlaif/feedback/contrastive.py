"""Contrastive principle-conditioned pairs (RLCD, Yang et al. 2023) and their labels.

For each prompt, ``k`` principles are sampled (weighted, seeded by ``(seed, prompt id)``). The policy answers the
prompt twice with the same sampling seed: once under a system prompt asking it to follow those principles
(template ``contrast_positive.j2``) and once under one asking for their opposite (``contrast_negative.j2``). Each
principle's instruction comes from its optional ``contrast`` pair (``positive`` / ``negative``), else from its
``compare`` question and ``negation``.

The pair's label comes from how it was made: the positive answer is chosen with probability ``p_chosen`` (default
1.0). With ``label_source="contrastive+critic"`` a critic rescores each pair: ``p_chosen`` becomes the critic's
p(positive ≻ negative), and pairs it reverses with confidence (p below ``drop_below``) are dropped.

The rows keep the prompt WITHOUT the system prompt, so DPO on them distils the system prompt into the policy
(context distillation). With ``n`` > 1 samples per side, the pair is the first positive against the first negative
(``select="first"``) or, to skip failed instructions, the shortest positive against the longest negative is NOT
used: selection never reads the graded rules. Provenance records the principles, the two system prompts and the
side of each answer.

Generation goes through :func:`generate_contrastive`, which returns ordinary :class:`ResponseSet` s (positive
answers first, then negative ones, the sides recorded in ``params["contrastive"]``), so the loop's generate stage
can write them as a responses dataset and its label stage can label them with :func:`contrastive_label_run`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from rlaif.atomic import atomic_write_text
from rlaif.backends.base import Backend, ChatMessage, GenerationRequest
from rlaif.constitution.sampling import sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import RlaifError
from rlaif.feedback.dataset_io import write_rows
from rlaif.feedback.provenance import canonical_json, is_conversational, params_json, trl_columns
from rlaif.feedback.responses import GenerateConfig, ResponseSet, prompt_seed
from rlaif.fields import PrinciplesK, PrincipleTags, Seed
from rlaif.prompting import TemplateSet
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)

ContrastSource = Literal["contrastive", "contrastive+critic"]
CONTRAST_SOURCES: tuple[str, ...] = ("contrastive", "contrastive+critic")
POSITIVE_TEMPLATE = "contrast_positive"
NEGATIVE_TEMPLATE = "contrast_negative"

#: the label a contrastive pair gets by construction, p(positive over negative)
PChosen = Annotated[
    float, Field(gt=0.5, le=1.0, description="the label given by construction: p(positive over negative)")
]
#: contrastive+critic: the critic's p(positive over negative) below which a pair is dropped
DropBelow = Annotated[
    float,
    Field(
        ge=0.0,
        le=0.5,
        description="with the critic, pairs whose critic p(positive over negative) is below this are dropped",
    ),
]


class ContrastConfig(StrictConfig):
    """How contrastive pairs are made and labelled (built by :meth:`rlaif.feedback.label_config.LabelConfig.contrast_config`
    in a pipeline, or from ``rlaif contrast``'s flags)."""

    k: PrinciplesK = Field(
        default=2, description="principles sampled per prompt (weighted, without replacement)"
    )
    seed: Seed = Field(
        default=0, description="run seed; each prompt's principles come from (seed, prompt id)"
    )
    p_chosen: PChosen = 1.0
    label_source: str = Field(
        default="contrastive",
        description="contrastive (the label from construction) or contrastive+critic (the critic rescores)",
    )
    drop_below: DropBelow = 0.3
    tags: PrincipleTags = None
    select: Literal["paired", "logratio"] = Field(
        default="paired",
        description="paired: sample j of the positive side against sample j of the negative side; logratio: with "
        "n > 1, per prompt the positive sample the system prompt pulled hardest toward (per-token log-ratio under "
        "the policy) against the negative one it pulled hardest away from",
    )

    @field_validator("label_source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in CONTRAST_SOURCES:
            raise ValueError(
                f"unknown contrastive label source {value!r}; choose one of: {', '.join(CONTRAST_SOURCES)}"
            )
        return value


class ContrastGenerateConfig(GenerateConfig):
    """How ``rlaif contrast`` samples each side: :class:`GenerateConfig` with one answer per side, shorter and cooler
    than a policy's free samples (its defaults are those of ``rlaif contrast``)."""

    n: int = Field(default=1, ge=1, description="answers per side per prompt (paired by seed)")
    max_new_tokens: int = Field(default=160, ge=1, description="length cap of each answer, in tokens")
    temperature: float = Field(default=0.7, ge=0.0, description="sampling temperature (0 = greedy)")


def instruction(principle: Principle, side: Literal["positive", "negative"]) -> str:
    """The instruction one side of the pair gives for ``principle`` (its contrast pair, else compare/negation)."""
    if principle.contrast is not None:
        return principle.contrast.positive if side == "positive" else principle.contrast.negative
    if side == "positive":
        return f"Write the answer that wins on this question: {principle.compare.strip()}"
    if principle.negation is not None:
        return f"Write the answer that wins on this question: {principle.negation.strip()}"
    return f"Write the answer that loses on this question: {principle.compare.strip()}"


def system_prompts(principles: Sequence[Principle], templates: TemplateSet) -> tuple[str, str, str]:
    """(positive system prompt, negative system prompt, hash of the two templates) for these principles."""
    texts = []
    for side, name in (("positive", POSITIVE_TEMPLATE), ("negative", NEGATIVE_TEMPLATE)):
        items = [instruction(p, side) for p in principles]  # type: ignore[arg-type]
        texts.append(templates.render(name, instructions=items).text.strip())
    th = templates.template_hash(POSITIVE_TEMPLATE) + templates.template_hash(NEGATIVE_TEMPLATE)
    return texts[0], texts[1], th


def _eligible(constitution: Constitution, tags: tuple[str, ...] | None) -> list[Principle]:
    ps = [p for p in constitution.principles if tags is None or set(p.tags) & set(tags)]
    if not ps:
        raise RlaifError("no principle carries any of the tags given", field="tags")
    return ps


def generate_contrastive(
    policy: Backend,
    prompts: Sequence[Any],
    constitution: Constitution,
    templates: TemplateSet,
    generate: GenerateConfig,
    config: ContrastConfig = ContrastConfig(),
) -> list[ResponseSet]:
    """Answer each prompt ``generate.n`` times under the positive and under the negative system prompt.

    Both sides use the prompt's seed (:func:`prompt_seed`), so sample j of each side starts from the same random
    state. Returns one :class:`ResponseSet` per prompt, its conversation WITHOUT the system prompt, its responses
    the positive samples then the negative ones, with the principles, the system prompts and each response's side
    in ``params["contrastive"]``.
    """
    eligible = _eligible(constitution, config.tags)
    k = min(config.k, len(eligible))
    out: list[ResponseSet] = []
    batch = max(1, generate.batch_prompts)
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        requests: list[GenerationRequest] = []
        meta: list[dict[str, Any]] = []
        for row in chunk:
            seed = prompt_seed(generate.seed, row.id)
            drawn = sample_principles(eligible, k, seed=prompt_seed(config.seed, "contrast\0" + row.id))
            pos, neg, th = system_prompts(drawn, templates)
            conv = tuple(m for m in row.conversation if m.role != "system")
            for sp in (pos, neg):
                requests.append(
                    GenerationRequest((ChatMessage("system", sp), *conv), generate.sampling(seed))
                )
            meta.append(
                {
                    "principles": [p.ref for p in drawn],
                    "system_positive": pos,
                    "system_negative": neg,
                    "template_hash": th,
                    "sides": ["positive"] * generate.n + ["negative"] * generate.n,
                    "seed": seed,
                }
            )
        completions = policy.generate(requests)
        if config.select == "logratio":
            _add_logratios(policy, requests, completions, meta)
        for i, row in enumerate(chunk):
            cs = [*completions[2 * i], *completions[2 * i + 1]]
            m = meta[i]
            params = {**generate.params_record(), "contrastive": {**m, "k": k, "p_chosen": config.p_chosen}}
            out.append(
                ResponseSet(
                    prompt=replace(
                        row, conversation=tuple(x for x in row.conversation if x.role != "system")
                    ),
                    responses=tuple(c.text for c in cs),
                    finish_reasons=tuple(c.finish_reason for c in cs),
                    seed=m["seed"],
                    policy_model=policy.model_id,
                    policy_revision=policy.model_revision,
                    params=params,
                )
            )
    return out


def _add_logratios(
    policy: Backend,
    requests: Sequence[GenerationRequest],
    completions: Sequence[Any],
    meta: list[dict[str, Any]],
) -> None:
    """Per-token log p(y | positive) − log p(y | negative) of every answer of each prompt, into ``meta``."""
    from rlaif.backends.base import ScoreRequest

    scores: list[ScoreRequest] = []
    for i in range(len(meta)):
        texts = tuple(c.text for c in [*completions[2 * i], *completions[2 * i + 1]])
        for r in (requests[2 * i], requests[2 * i + 1]):
            assert not isinstance(r.prompt, str)
            scores.append(ScoreRequest(policy.format_chat(r.prompt), texts))
    results = policy.score(scores)
    for i, m in enumerate(meta):
        pos, neg = results[2 * i], results[2 * i + 1]
        m["logratio"] = [
            round((a - b) / max(1, t), 6)
            for a, b, t in zip(pos.logprobs, neg.logprobs, pos.num_tokens, strict=True)
        ]


def _pairs_of(s: ResponseSet, meta: dict[str, Any], select: str) -> list[tuple[int, int]]:
    """The (positive index, negative index) pairs of one prompt."""
    n = len(meta["sides"]) // 2
    if select == "logratio" and meta.get("logratio") and n > 1:
        lr = meta["logratio"]
        best = max(range(n), key=lambda i: (lr[i], -i))
        worst = min(range(n, 2 * n), key=lambda i: (lr[i], i))
        return [(best, worst)]
    return [(j, n + j) for j in range(n)]


@dataclass
class ContrastRun:
    """Labelled contrastive pairs: rows to write, dropped pairs and why, statistics."""

    rows: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    stats: dict[str, Any]


def contrastive_label_run(
    sets: Sequence[ResponseSet],
    constitution: Constitution,
    config: ContrastConfig = ContrastConfig(),
    *,
    critic: Backend | None = None,
    templates: TemplateSet | None = None,
) -> ContrastRun:
    """Label each prompt's (positive, negative) pair: by construction, or rescored by ``critic``.

    Sample j of the positive side is paired with sample j of the negative side (same seed); pairs whose two
    answers are identical are dropped. With ``contrastive+critic`` the critic judges each pair under its sampled
    principles in both orders: ``p_chosen`` is its p(positive ≻ negative), and pairs below ``drop_below`` are dropped.
    """
    from rlaif.constitution import constitution_hash

    if config.label_source == "contrastive+critic" and (critic is None or templates is None):
        raise RlaifError("label source contrastive+critic needs a critic model", field="critic")
    chash = constitution_hash(constitution)
    candidates: list[tuple[ResponseSet, dict[str, Any], int, int]] = []
    dropped: list[dict[str, Any]] = []
    for s in sets:
        meta = s.params.get("contrastive")
        if not meta:
            raise RlaifError(
                f"prompt {s.prompt.id!r} has no contrastive responses",
                hint="generate them with label_source contrastive (the generate stage samples both sides)",
            )
        for i, j in _pairs_of(s, meta, config.select):
            pid = f"{s.prompt.id}:{i}-{j}"
            if s.responses[i].strip() == s.responses[j].strip():
                dropped.append({"pair_id": pid, "prompt_id": s.prompt.id, "reason": "identical answers"})
                continue
            candidates.append((s, meta, i, j))
    ps: list[float] = [config.p_chosen] * len(candidates)
    critic_model = critic_revision = ""
    if config.label_source == "contrastive+critic":
        assert critic is not None and templates is not None
        from rlaif.feedback.comparison import Comparison
        from rlaif.feedback.judge import judge_pairs
        from rlaif.feedback.soft_labels import SoftLabel

        by_ref = {p.ref: p for p in constitution.principles}
        todo = [
            Comparison(
                f"{s.prompt.id}:{i}-{j}",
                s.prompt.conversation,
                s.responses[i],
                s.responses[j],
                tuple(by_ref[r] for r in meta["principles"] if r in by_ref),
            )
            for s, meta, i, j in candidates
        ]
        results = judge_pairs(critic, templates, todo, progress=False)
        critic_model, critic_revision = critic.model_id, critic.model_revision
        keep: list[tuple[ResponseSet, dict[str, Any], int, int]] = []
        ps = []
        for cand, res in zip(candidates, results, strict=True):
            pid = f"{cand[0].prompt.id}:{cand[2]}-{cand[3]}"
            if not isinstance(res, SoftLabel):
                dropped.append({"pair_id": pid, "prompt_id": cand[0].prompt.id, "reason": res.reason})
            elif res.p < config.drop_below:
                dropped.append(
                    {
                        "pair_id": pid,
                        "prompt_id": cand[0].prompt.id,
                        "reason": f"critic reversed (p={res.p:.3f})",
                    }
                )
            else:
                keep.append(cand)
                ps.append(round(max(res.p, 0.5), 6))
        candidates = keep
    conversational = is_conversational(s.prompt.conversation for s, *_ in candidates) if candidates else False
    params = {
        "k": config.k,
        "seed": config.seed,
        "p_chosen": config.p_chosen,
        "label_source": config.label_source,
        "drop_below": config.drop_below,
        "select": config.select,
    }
    rows = []
    for (s, meta, i, j), p in zip(candidates, ps, strict=True):
        rows.append(
            {
                **trl_columns(
                    s.prompt.conversation, s.responses[i], s.responses[j], conversational=conversational
                ),
                "pair_id": f"{s.prompt.id}:{i}-{j}",
                "prompt_id": s.prompt.id,
                "p_chosen": p,
                "label_source": config.label_source,
                "constitution_hash": chash,
                "principles": list(meta["principles"]),
                "template_hash": meta["template_hash"],
                "critic_model": critic_model,
                "critic_revision": critic_revision,
                "params": params_json(params),
                "seed": meta["seed"],
                "system_chosen": meta["system_positive"],
                "system_rejected": meta["system_negative"],
                "side_chosen": meta["sides"][i],
                "side_rejected": meta["sides"][j],
                **(
                    {"logratio_chosen": meta["logratio"][i], "logratio_rejected": meta["logratio"][j]}
                    if meta.get("logratio")
                    else {}
                ),
                "index_chosen": i,
                "index_rejected": j,
                "finish_chosen": s.finish_reasons[i],
                "finish_rejected": s.finish_reasons[j],
                "policy_model": s.policy_model,
                "policy_revision": s.policy_revision,
            }
        )
    stats = {
        "prompts": len(sets),
        "pairs": len(rows) + len(dropped),
        "rows": len(rows),
        "labeled": len(rows),
        "unlabeled": len(dropped),
        "filtered": 0,
        "dropped": len(dropped),
        "label_source": config.label_source,
        "mean_p_chosen": round(sum(ps) / len(ps), 4) if ps else None,
        "cut_chosen": round(sum(r["finish_chosen"] == "length" for r in rows) / len(rows), 4)
        if rows
        else None,
    }
    return ContrastRun(rows, dropped, stats)


def positive_sft_rows(run: ContrastRun) -> list[dict[str, Any]]:
    """The positive answers alone, prompt without the system prompt: the SFT baseline of context distillation."""
    return [
        {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"], "pair_id": r["pair_id"]}
        for r in run.rows
    ]


def write_contrast_run(run: ContrastRun, out_dir: str | Path) -> Path:
    """Write ``data.parquet`` (the labelled pairs), ``unlabeled.jsonl`` (dropped pairs) and ``stats.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "unlabeled.jsonl", "".join(canonical_json(d) + "\n" for d in run.dropped))
    atomic_write_text(out / "stats.json", json.dumps(run.stats, indent=2, sort_keys=True) + "\n")
    if not run.rows:
        raise RlaifError(
            f"no contrastive pair was kept ({len(run.dropped)} dropped)",
            path=out / "unlabeled.jsonl",
            hint="see the reasons listed there",
        )
    return write_rows(out, run.rows)


def measure_ceiling(
    policy: Backend,
    prompts: Sequence[Any],
    constitution: Constitution,
    templates: TemplateSet,
    generate: GenerateConfig,
    conditions: Sequence[str] = ("none", "positive"),
) -> dict[str, Any]:
    """Rule compliance of ``policy`` on ``prompts`` with no system prompt (``none``), under the positive system prompt
    of every principle (``positive``: the ceiling context distillation aims at) and, when asked, under the negative
    one (``negative``: how far apart the two sides are). With greedy decoding the ``none`` answers are the requests
    the evaluation makes of the base model, so a shared call cache computes them once.

    One response per prompt and condition, the same seed in each; pass rates with Wilson intervals, keyed by
    principle id and ``"all"``; ``cut`` is the share of responses stopped by the token limit.
    """
    from rlaif.constitution.compliance import rule_compliance

    eligible = list(constitution.principles)
    pos, neg, _ = system_prompts(eligible, templates)
    out: dict[str, Any] = {"n": len(prompts), "system_positive": pos, "system_negative": neg}
    unknown = set(conditions) - {"none", "positive", "negative"}
    if unknown:
        raise RlaifError(f"unknown condition(s) {sorted(unknown)}: use none, positive, negative")
    prompts_by = {"none": None, "positive": pos, "negative": neg}
    for name in conditions:
        sp = prompts_by[name]
        rows = [
            replace(
                r,
                conversation=((ChatMessage("system", sp),) if sp else ())
                + tuple(m for m in r.conversation if m.role != "system"),
            )
            for r in prompts
        ]
        from rlaif.feedback.responses import generate_responses

        sets = generate_responses(policy, rows, generate)
        texts = [s.responses[0] for s in sets]
        report = rule_compliance(eligible, texts)
        out[name] = {
            "compliance": {
                k: {"value": round(e.value, 4), "low": round(e.low, 4), "high": round(e.high, 4), "n": e.n}
                for k, e in report.rates.items()
            },
            "cut": round(sum(s.finish_reasons[0] == "length" for s in sets) / max(1, len(sets)), 4),
            "mean_words": round(sum(len(t.split()) for t in texts) / max(1, len(texts)), 1),
        }
    return out


__all__ = [
    "CONTRAST_SOURCES",
    "ContrastConfig",
    "ContrastGenerateConfig",
    "ContrastRun",
    "contrastive_label_run",
    "generate_contrastive",
    "instruction",
    "measure_ceiling",
    "positive_sft_rows",
    "system_prompts",
    "write_contrast_run",
]
