"""How much a principle's labels depend on its wording: ``rlaif diff-constitution C --paraphrases N``.

Each principle's ``compare`` question is reworded N ways by the critic (seeded sampling, so the rewordings are
cached and reproducible) or taken from a variants file the author wrote. Every pair is then judged under the
original question and under each rewording alone (both orders, as the labeler does). A principle's **stability** is
the share of (pair, rewording) judgements that prefer the same response as the original question; a tie counts as
half. The judgements of one pair are nested, so its interval is the clustered Wilson interval with the pair as the
unit. A principle whose stability falls below ``fragile_below`` is **fragile**: its labels follow its wording more
than its meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import Backend, ChatMessage, GenerationRequest, SamplingParams
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, RlaifError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, judge_pairs
from rlaif.feedback.pairs import ResponsePair
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet
from rlaif.stats import Estimate, clustered_proportion_ci, estimate_json, wilson_ci
from rlaif.workbench.configs import DEFAULT_FRAGILE_BELOW
from rlaif.workbench.document import Document, clip
from rlaif.workbench.inspection import fmt

#: stability below this makes a principle fragile

PARAPHRASE_REQUEST = (
    "Reword the question below so that it asks exactly the same thing in different words. Keep it a question "
    "about which of two responses is better. Reply with the reworded question only, on one line.\n\n"
    "Question: {question}"
)


def _clean(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().strip('"').strip()
        for prefix in ("Reworded question:", "Question:", "Answer:", "-", "*"):
            if line.lower().startswith(prefix.lower()):
                line = line[len(prefix) :].strip()
        if line:
            return line
    return ""


def paraphrase(
    critic: Backend, principle: Principle, n: int, *, seed: int = 0, max_new_tokens: int = 96
) -> list[str]:
    """Up to ``n`` distinct rewordings of ``principle.compare`` by the critic (seeded samples, cacheable).

    A sample that is empty, shorter than three words or a copy of the original is dropped, so fewer than ``n`` may
    come back; the caller reports how many did.
    """
    if n < 1:
        return []
    chat = (ChatMessage("user", PARAPHRASE_REQUEST.format(question=principle.compare.strip())),)
    requests = [
        GenerationRequest(
            chat, SamplingParams(max_new_tokens=max_new_tokens, temperature=0.9, top_p=0.95, seed=seed + i)
        )
        for i in range(n)
    ]
    out: list[str] = []
    for completions in critic.generate(requests):
        text = _clean(completions[0].text) if completions else ""
        if len(text.split()) >= 3 and text != principle.compare.strip() and text not in out:
            out.append(text)
    return out


def load_variants(path: str | Path, constitution: Constitution) -> dict[str, list[str]]:
    """A variants file: YAML mapping a principle id to a list of rewordings of its ``compare`` question."""
    from rlaif.yamlfile import load_yaml_text

    file = Path(path)
    if not file.is_file():
        raise DataFileError("variants file not found", path=file)
    doc = load_yaml_text(file.read_text(encoding="utf-8"), str(file))
    data = doc.data
    if not isinstance(data, Mapping) or not data:
        raise DataFileError(
            "expected a mapping from principle id to a list of reworded questions",
            path=file,
            hint="e.g.\nhonesty:\n  - Which response is more truthful?",
        )
    known = set(constitution.principle_ids)
    out: dict[str, list[str]] = {}
    for pid, texts in data.items():
        if pid not in known:
            raise DataFileError(
                f"no principle {pid!r} in constitution {constitution.name!r}", path=file, field=str(pid)
            )
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            raise DataFileError("must be a non-empty list of non-blank questions", path=file, field=str(pid))
        out[str(pid)] = [t.strip() for t in texts]
    return out


@dataclass(frozen=True)
class PrincipleSensitivity:
    """One principle's stability under rewording."""

    principle: str
    original: str
    variants: tuple[str, ...]
    stability: Estimate | None
    per_variant: tuple[Estimate | None, ...]
    fragile_below: float

    @property
    def fragile(self) -> bool:
        """Its labels change with its wording (stability below the bar)."""
        return self.stability is not None and self.stability.value < self.fragile_below

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        return {
            "principle": self.principle,
            "original": self.original,
            "variants": [
                {"text": t, "agreement": estimate_json(e)}
                for t, e in zip(self.variants, self.per_variant, strict=True)
            ],
            "stability": estimate_json(self.stability),
            "fragile": self.fragile,
        }


def _side(p: float) -> int:
    return 0 if p == 0.5 else (1 if p > 0.5 else -1)


def sensitivity(
    pairs: Sequence[Comparison | ResponsePair],
    constitution: Constitution,
    critic: Backend,
    templates: TemplateSet,
    variants: Mapping[str, Sequence[str]],
    *,
    judge: JudgeConfig = JudgeConfig(),
    fragile_below: float = DEFAULT_FRAGILE_BELOW,
) -> list[PrincipleSensitivity]:
    """Judge every pair under each principle's original question and each variant; stability per principle.

    ``pairs`` are comparisons (or the labeler's :class:`~rlaif.feedback.pairs.ResponsePair`, judged as their
    :meth:`~rlaif.feedback.pairs.ResponsePair.comparison`); ``variants`` maps principle ids to rewordings (principles without any are
    skipped).
    """
    if not pairs:
        raise RlaifError("no pairs to judge", field="--responses")
    comparisons = [p.comparison() if isinstance(p, ResponsePair) else p for p in pairs]
    out = []
    for principle in constitution.principles:
        texts = list(variants.get(principle.id, ()))
        if not texts:
            continue
        wordings = [principle, *(principle.model_copy(update={"compare": t}) for t in texts)]
        batch = [
            c.under((wp,), pair_id=f"{c.pair_id}#{w}") for c in comparisons for w, wp in enumerate(wordings)
        ]
        results = judge_pairs(critic, templates, batch, judge, progress=False)
        width = len(wordings)
        outcomes: list[float] = []
        clusters: list[str] = []
        per_variant: list[list[float]] = [[] for _ in texts]
        for i, pair in enumerate(pairs):
            row = results[i * width : (i + 1) * width]
            if not isinstance(row[0], SoftLabel):
                continue
            base = _side(row[0].p)
            for v, r in enumerate(row[1:]):
                if not isinstance(r, SoftLabel):
                    continue
                side = _side(r.p)
                y = 0.5 if base == 0 or side == 0 else float(side == base)
                outcomes.append(y)
                clusters.append(pair.pair_id)
                per_variant[v].append(y)
        out.append(
            PrincipleSensitivity(
                principle=principle.ref,
                original=principle.compare.strip(),
                variants=tuple(texts),
                stability=clustered_proportion_ci(outcomes, clusters) if outcomes else None,
                per_variant=tuple(wilson_ci(sum(ys), len(ys)) if ys else None for ys in per_variant),
                fragile_below=fragile_below,
            )
        )
    return out


def sensitivity_document(results: Sequence[PrincipleSensitivity], title: str) -> Document:
    """The sensitivity report as a :class:`Document`."""
    doc = Document(title)
    doc.p(
        "Each principle's question judged as written and reworded; stability is the share of (pair, rewording) "
        "judgements that prefer the same response as the original (95% clustered Wilson interval, the pair is the "
        f"unit). Fragile: stability below {results[0].fragile_below:.0%}."
        if results
        else "No principle had a rewording."
    )
    doc.table(
        ["principle", "rewordings", "stability", "verdict"],
        [
            [r.principle, str(len(r.variants)), fmt(r.stability), "FRAGILE" if r.fragile else "stable"]
            for r in results
        ],
    )
    for r in results:
        doc.h3(r.principle)
        doc.bullets(
            [f"original: {clip(r.original, 200)}"]
            + [f"{fmt(e)} agree — {clip(t, 200)}" for t, e in zip(r.variants, r.per_variant, strict=True)]
        )
    return doc


__all__ = [
    "DEFAULT_FRAGILE_BELOW",
    "PARAPHRASE_REQUEST",
    "PrincipleSensitivity",
    "load_variants",
    "paraphrase",
    "sensitivity",
    "sensitivity_document",
]
