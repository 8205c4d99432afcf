"""Remedies for weak critics, as switches on judgements the critic already gave (or on the prompt it sees).

* :func:`batch_calibrate`: Batch Calibration (Zhou et al., 2023). In each order, the mean log-odds that the critic
  picks the *first-shown* response over a batch of comparisons estimates its positional prior; it is subtracted
  from every judgement of that order. Content-free: needs no labels, only a batch (≥ 8 judgements per order).
* :func:`order_consistent`: the order-consistency filter: keep a comparison only when both orders prefer the
  same response (averaged over its principles).
* :func:`marker_templates`: swapped answer markers: a template folder whose comparison templates ask for a pair of
  other symbols (``(K)``/``(Q)`` …) instead of ``(A)``/``(B)``, drawn from a seed; it also hides the answer letters
  from a response that tries to dictate them.

Principle ensembles (``k``) and chain of thought are settings of the judge itself
(:class:`~rlaif.feedback.judge.JudgeConfig`).
"""

from __future__ import annotations

import atexit
import math
import random
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel, ensemble

if TYPE_CHECKING:
    from rlaif.feedback.judge import JudgeResult
    from rlaif.prompting import TemplateSet

#: fewer judgements per order than this and batch calibration leaves them unchanged (the prior is too noisy)
MIN_BATCH = 8
_EPS = 1e-6

#: symbol pairs for swapped markers: single capital letters other than A and B, each one token in common vocabularies
MARKER_PAIRS: tuple[tuple[str, str], ...] = (
    ("K", "Q"), ("X", "Z"), ("M", "P"), ("R", "T"), ("H", "W"), ("N", "S"), ("F", "J"), ("G", "V"),
)  # fmt: skip


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def position_priors(judgements: Sequence[PrincipleJudgement]) -> tuple[float, float]:
    """Mean log-odds of picking the first-shown response, in order ab and in order ba."""
    ab = [_logit(j.p_ab) for j in judgements]
    ba = [_logit(1.0 - j.p_ba) for j in judgements]  # in order ba the first-shown response is B
    return (sum(ab) / len(ab), sum(ba) / len(ba)) if judgements else (0.0, 0.0)


def batch_calibrate(
    batch: Sequence[Sequence[PrincipleJudgement]], *, min_batch: int = MIN_BATCH
) -> list[list[PrincipleJudgement]]:
    """Batch Calibration of every judgement of a batch (one inner list per comparison; shape kept).

    With fewer than ``min_batch`` judgements the batch is returned unchanged.
    """
    flat = [j for js in batch for j in js]
    if len(flat) < min_batch:
        return [list(js) for js in batch]
    prior_ab, prior_ba = position_priors(flat)
    out = []
    for js in batch:
        out.append(
            [
                replace(
                    j,
                    p_ab=_sigmoid(_logit(j.p_ab) - prior_ab),
                    p_ba=1.0 - _sigmoid(_logit(1.0 - j.p_ba) - prior_ba),
                )
                for j in js
            ]
        )
    return out


def calibrate_judged(results: Sequence[JudgeResult]) -> list[JudgeResult]:
    """Batch Calibration over one labeler call's results; unlabeled pairs pass through, labels are re-ensembled."""
    labeled = [r for r in results if isinstance(r.result, SoftLabel)]
    fixed = iter(batch_calibrate([r.result.judgements for r in labeled if isinstance(r.result, SoftLabel)]))
    out = []
    for r in results:
        if isinstance(r.result, SoftLabel):
            out.append(replace(r, result=ensemble(next(fixed))))
        else:
            out.append(r)
    return out


def order_consistent(judgements: Sequence[PrincipleJudgement]) -> bool:
    """Both orders, averaged over the principles, prefer the same response (the filter keeps these)."""
    if not judgements:
        return False
    p_ab = sum(j.p_ab for j in judgements) / len(judgements)
    p_ba = sum(j.p_ba for j in judgements) / len(judgements)
    return (p_ab - 0.5) * (p_ba - 0.5) > 0


def pick_markers(seed: int) -> tuple[str, str]:
    """A seeded symbol pair for swapped markers (never A/B)."""
    return random.Random(f"markers:{seed}").choice(MARKER_PAIRS)


_COMPARE = """{{#- Swapped answer markers ({first}/{second}): written by rlaif.feedback.remedies.marker_templates. -#}}
{{% set answer_prefix = "Answer: (" %}}
{{% set choices = ["{first}", "{second}"] %}}
{{% include "_comparison.j2" %}}
The reply in <response_a> is option ({first}); the reply in <response_b> is option ({second}).
Question: {{{{ principle.compare | trim }}}}
Reply with the option of the better response, ({first}) or ({second}), and nothing else."""

_COMPARE_COT = """{{#- Swapped answer markers ({first}/{second}), chain of thought. -#}}
{{% set reasoning_prefix = "Let's think step by step." %}}
{{% set answer_prefix = "\\nTherefore, the better response is (" %}}
{{% set choices = ["{first}", "{second}"] %}}
{{% include "_comparison.j2" %}}
The reply in <response_a> is option ({first}); the reply in <response_b> is option ({second}).
Question: {{{{ principle.compare | trim }}}}
Think it through step by step in a few sentences, then finish with "Therefore, the better response is ({first})" \
or "Therefore, the better response is ({second})"."""


def check_markers(markers: tuple[str, str]) -> None:
    """Raise ValueError unless the markers are two different capital letters, neither A nor B."""
    for m in markers:
        if not (len(m) == 1 and m.isalpha() and m.isupper()) or m in "AB":
            raise ValueError(f"a marker must be one capital letter other than A and B, got {m!r}")
    if markers[0] == markers[1]:
        raise ValueError("the two markers must differ")


def parse_markers(value: str | None, seed: int = 0) -> tuple[str, str] | None:
    """A markers setting: None/'none'/'ab' (keep (A)/(B)), 'random' (seeded pair) or two letters like 'K,Q'."""
    if value is None or value.strip().lower() in ("", "none", "ab"):
        return None
    if value.strip().lower() == "random":
        return pick_markers(seed)
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        raise ValueError(f"markers must be 'random' or two letters like 'K,Q', got {value!r}")
    check_markers((parts[0], parts[1]))
    return parts[0], parts[1]


def marker_templates(folder: str | Path, markers: tuple[str, str], base: str | Path | None = None) -> Path:
    """Write ``compare.j2`` and ``compare_cot.j2`` asking for ``markers`` into ``folder``; returns the folder.

    ``base`` is a user template folder whose other files are copied along (its own compare templates are
    replaced). Load the result with ``TemplateSet.load(folder)``.
    """
    check_markers(markers)
    first, second = markers
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if base is not None:
        for f in Path(base).rglob("*"):
            if f.is_file() and f.name not in ("compare.j2", "compare_cot.j2"):
                target = out / f.relative_to(base)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.read_bytes())
    (out / "compare.j2").write_text(_COMPARE.format(first=first, second=second), encoding="utf-8")
    (out / "compare_cot.j2").write_text(_COMPARE_COT.format(first=first, second=second), encoding="utf-8")
    return out


_MARKER_DIRS: dict[tuple[str, str], Path] = {}


def with_markers(templates: TemplateSet, markers: tuple[str, str]) -> TemplateSet:
    """``templates`` with the comparison templates swapped for ones asking for ``markers`` (searched first).

    The marker templates are written once per process into a temporary folder, removed at exit.
    """
    from rlaif.prompting import TemplateSet

    folder = _MARKER_DIRS.get(markers)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="rlaif-markers-"))
        atexit.register(shutil.rmtree, folder, True)
        marker_templates(folder, markers)
        _MARKER_DIRS[markers] = folder
    return TemplateSet((folder.resolve(), *templates.directories))


__all__ = [
    "MARKER_PAIRS",
    "batch_calibrate",
    "calibrate_judged",
    "check_markers",
    "marker_templates",
    "order_consistent",
    "parse_markers",
    "pick_markers",
    "position_priors",
    "with_markers",
]
