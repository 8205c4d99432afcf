"""Which labels flip between two versions of a constitution, and which principle change caused each flip.

Both versions label the same responses with the same options (:func:`rlaif.feedback.labeler.label_dataset`). The
critic is wrapped in the call cache, whose key is the exact rendered prompt: a principle whose ``compare`` question
did not change renders the same prompts, so its judgements come back from the cache and only the edited principles
are judged again (editing ``critique``, ``revision``, ``negation`` or tags costs no critic call at all). A change of
weight, or an added or removed principle, changes which principles are drawn for some pairs (each pair's draw is
seeded by its id, never by the principles' texts), so those pairs are judged under the principles newly drawn.

A label flips when p(A ≻ B) crosses 0.5. The label is the mean of the drawn principles' judgements, so the change
``p_new − p_old`` splits exactly into one term per principle: ``p_new,j / k`` if ``j`` is drawn in the new version,
minus ``p_old,j / k`` if it was drawn in the old one. The principle whose term pushes hardest in the direction of the
flip caused it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rlaif.backends.base import Backend
from rlaif.constitution.schema import Constitution, Principle
from rlaif.feedback.inputs import response_text
from rlaif.feedback.labeler import LabelConfig, LabelRun, label_dataset
from rlaif.feedback.responses import ResponseSet
from rlaif.prompting import TemplateSet
from rlaif.stats import Estimate, estimate_json, wilson_ci
from rlaif.workbench.configs import DiffConstitutionConfig
from rlaif.workbench.document import Document, clip
from rlaif.workbench.inspection import fmt
from rlaif.workbench.labels import table_from_rows

ChangeKind = Literal["compare", "added", "removed", "weight", "rule", "text", "unchanged"]

#: what each kind of change means for the labels
CHANGE_MEANING: dict[str, str] = {
    "compare": "question edited: judged again",
    "added": "added: judged where drawn",
    "removed": "removed",
    "weight": "reweighted: drawn for other pairs",
    "rule": "rule edited (matters for rules/hybrid labels)",
    "text": "critique/revision/negation/tags edited: labels unaffected, no critic call",
    "unchanged": "unchanged",
}


@dataclass(frozen=True)
class PrincipleChange:
    """How one principle id differs between the two versions."""

    id: str
    kind: ChangeKind
    old: Principle | None
    new: Principle | None

    def text_diff(self) -> str:
        """A unified diff of the ``compare`` question (empty when it did not change)."""
        a = self.old.compare if self.old else ""
        b = self.new.compare if self.new else ""
        if a == b:
            return ""
        lines = difflib.unified_diff(
            a.splitlines(), b.splitlines(), f"old/{self.id}", f"new/{self.id}", lineterm="", n=2
        )
        return "\n".join(lines)


def principle_changes(old: Constitution, new: Constitution) -> list[PrincipleChange]:
    """Every principle id of either version with the most consequential kind of change (old order, then added)."""
    old_by = {p.id: p for p in old.principles}
    new_by = {p.id: p for p in new.principles}
    ids = [p.id for p in old.principles] + [p.id for p in new.principles if p.id not in old_by]
    out = []
    for pid in ids:
        a, b = old_by.get(pid), new_by.get(pid)
        kind: ChangeKind
        if a is None:
            kind = "added"
        elif b is None:
            kind = "removed"
        elif a.compare != b.compare:
            kind = "compare"
        elif a.weight != b.weight:
            kind = "weight"
        elif a.rule != b.rule:
            kind = "rule"
        elif a != b:
            kind = "text"
        else:
            kind = "unchanged"
        out.append(PrincipleChange(pid, kind, a, b))
    return out


@dataclass(frozen=True)
class Flip:
    """One pair whose label changed side, and the principle that moved it most."""

    pair_id: str
    p_old: float
    p_new: float
    cause: str
    cause_kind: str
    push: float  # the cause's share of p_new − p_old


@dataclass
class ConstitutionDiff:
    """The result of :func:`diff_constitutions`."""

    old_name: str
    new_name: str
    changes: list[PrincipleChange]
    compared: int
    flips: list[Flip]
    flip_rate: Estimate | None
    judgement_flips: dict[str, Estimate]  # edited principle id -> share of its judgements that changed side
    calls_old: int
    calls_new: int
    only_old: list[str]
    only_new: list[str]
    pairs: dict[str, tuple[str, str, str]]  # pair id -> (prompt, response A, response B), for examples

    def causes(self) -> dict[str, int]:
        """Flips per causing principle, most first."""
        counts: dict[str, int] = {}
        for f in self.flips:
            counts[f.cause] = counts.get(f.cause, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (deterministic)."""

        return {
            "old": self.old_name,
            "new": self.new_name,
            "changes": [{"id": c.id, "kind": c.kind} for c in self.changes],
            "compared_pairs": self.compared,
            "flips": [f.__dict__ for f in self.flips],
            "flip_rate": estimate_json(self.flip_rate),
            "flips_by_cause": self.causes(),
            "judgement_flips": {k: estimate_json(v) for k, v in self.judgement_flips.items()},
            "critic_calls": {"old": self.calls_old, "new": self.calls_new},
            "labeled_only_in_old": self.only_old,
            "labeled_only_in_new": self.only_new,
        }


class _CallCounter:
    """Counts the prompts a backend really computes (the misses of a call cache wrapped around it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id
        self.model_revision = backend.model_revision
        self.computed = 0

    def generate(self, requests: Sequence[Any]) -> Any:
        self.computed += len(requests)
        return self.backend.generate(requests)

    def score(self, requests: Sequence[Any]) -> Any:
        self.computed += len(requests)
        return self.backend.score(requests)

    def format_chat(self, messages: Sequence[Any]) -> str:
        return self.backend.format_chat(messages)

    def close(self) -> None:
        self.backend.close()


def counted(critic: Backend) -> tuple[Backend, Any]:
    """``critic`` with its computed (uncached) calls counted: ``(backend to use, counter with .computed)``.

    For a :class:`~rlaif.feedback.call_cache.CachedBackend` the counter sits under the cache, so only the calls that
    miss it are counted; for a bare backend every call is.
    """
    from rlaif.feedback.call_cache import CachedBackend

    if isinstance(critic, CachedBackend):
        counter = _CallCounter(critic.backend)
        critic.backend = counter
        return critic, counter
    counter = _CallCounter(critic)
    return counter, counter


def diff_constitutions(
    responses: Sequence[ResponseSet],
    old: Constitution,
    new: Constitution,
    critic: Backend,
    templates: TemplateSet,
    config: LabelConfig = LabelConfig(),
) -> ConstitutionDiff:
    """Label ``responses`` under both versions and attribute every flipped label (see the module doc).

    Wrap ``critic`` in a :class:`~rlaif.feedback.call_cache.CachedBackend` so unchanged principles cost nothing
    the second time (and nothing at all when the old version was labelled before with the same cache).
    """
    from rlaif.feedback.call_cache import CachedBackend

    inner = critic.backend if isinstance(critic, CachedBackend) else None
    backend, counter = counted(critic)
    try:
        old_run = label_dataset(responses, old, backend, templates, config)
        calls_old = counter.computed
        new_run = label_dataset(responses, new, backend, templates, config)
        calls_new = counter.computed - calls_old
    finally:
        if isinstance(critic, CachedBackend) and inner is not None:
            critic.backend = inner
    return _compare(old, new, old_run, new_run, calls_old, calls_new)


def _compare(
    old: Constitution, new: Constitution, old_run: LabelRun, new_run: LabelRun, calls_old: int, calls_new: int
) -> ConstitutionDiff:
    changes = principle_changes(old, new)
    kind_of = {c.id: c.kind for c in changes}
    old_rows = {r["pair_id"]: r for r in old_run.rows}
    new_rows = {r["pair_id"]: r for r in new_run.rows}
    common = [pid for pid in old_rows if pid in new_rows]
    flips: list[Flip] = []
    judgement_flips: dict[str, Estimate] = {}
    pairs: dict[str, tuple[str, str, str]] = {}
    if common:
        t_old = table_from_rows([old_rows[p] for p in common])
        t_new = table_from_rows([new_rows[p] for p in common])
        ids = sorted({r.split("@", 1)[0] for r in (*t_old.principles, *t_new.principles)})

        def by_id(t: Any) -> np.ndarray:
            out = np.full((len(common), len(ids)), np.nan)
            for j, ref in enumerate(t.principles):
                out[:, ids.index(ref.split("@", 1)[0])] = t.p[:, j]
            return out

        p_old, p_new = by_id(t_old), by_id(t_new)
        k_old = (~np.isnan(p_old)).sum(axis=1, keepdims=True)
        k_new = (~np.isnan(p_new)).sum(axis=1, keepdims=True)
        contrib = np.nan_to_num(p_new, nan=0.0) / k_new - np.nan_to_num(p_old, nan=0.0) / k_old
        side_old = np.sign(t_old.label_p - 0.5)
        side_new = np.sign(t_new.label_p - 0.5)
        for i in np.flatnonzero(side_old != side_new):
            direction = 1.0 if t_new.label_p[i] > t_old.label_p[i] else -1.0
            j = int(np.argmax(direction * contrib[i]))
            cause = ids[j]
            kind: str = kind_of.get(cause, "unchanged")
            if kind == "unchanged" and np.isnan(p_old[i, j]):
                kind = "redrawn"
            pid = common[i]
            flips.append(
                Flip(pid, float(t_old.label_p[i]), float(t_new.label_p[i]), cause, kind, float(contrib[i, j]))
            )
            row = new_rows[pid]
            a_chosen = bool(row["a_is_chosen"])
            chosen, rejected = (
                response_text(row["chosen"], "chosen"),
                response_text(row["rejected"], "rejected"),
            )
            a, b = (chosen, rejected) if a_chosen else (rejected, chosen)
            prompt = row["prompt"] if isinstance(row["prompt"], str) else str(row["prompt"][-1]["content"])
            pairs[pid] = (prompt, a, b)
        for c in changes:
            if c.kind != "compare" or c.id not in ids:
                continue
            j = ids.index(c.id)
            both = ~np.isnan(p_old[:, j]) & ~np.isnan(p_new[:, j])
            n = int(both.sum())
            if n:
                changed = np.sign(p_old[both, j] - 0.5) != np.sign(p_new[both, j] - 0.5)
                judgement_flips[c.id] = wilson_ci(float(changed.sum()), n)
    return ConstitutionDiff(
        old_name=f"{old.name} v{old.version}",
        new_name=f"{new.name} v{new.version}",
        changes=changes,
        compared=len(common),
        flips=flips,
        flip_rate=wilson_ci(len(flips), len(common)) if common else None,
        judgement_flips=judgement_flips,
        calls_old=calls_old,
        calls_new=calls_new,
        only_old=sorted(set(old_rows) - set(new_rows)),
        only_new=sorted(set(new_rows) - set(old_rows)),
        pairs=pairs,
    )


def diff_document(diff: ConstitutionDiff, *, examples: int = 10) -> Document:
    """The diff report (what changed, which labels flipped and why) as a :class:`Document`."""
    doc = Document(f"Constitution diff: {diff.old_name} → {diff.new_name}")
    changed = [c for c in diff.changes if c.kind != "unchanged"]
    doc.p(
        f"{diff.compared} pairs labelled under both versions; {len(diff.flips)} labels flipped "
        f"({fmt(diff.flip_rate)}, 95% Wilson interval over pairs). Critic prompts computed: {diff.calls_old} for "
        f"the old version, {diff.calls_new} for the new one (every other prompt came from the call cache)."
    )
    doc.h2("What changed")
    if not changed:
        doc.p("Nothing: the two versions have the same principles.")
    doc.table(
        ["principle", "change", "judgements that changed side", "labels it flipped"],
        [
            [
                c.id,
                CHANGE_MEANING[c.kind],
                fmt(diff.judgement_flips.get(c.id)) if c.kind == "compare" else "",
                str(diff.causes().get(c.id, 0)),
            ]
            for c in changed
        ],
    )
    for c in changed:
        text = c.text_diff()
        if text:
            doc.h3(f"{c.id}: the question")
            doc.pre(text, diff=True)
    doc.h2("Flipped labels")
    if not diff.flips:
        doc.p("No label changed side.")
    doc.table(
        ["flips caused", "principle", "its change"],
        [
            [str(n), pid, CHANGE_MEANING.get(_kind(diff, pid), "newly drawn")]
            for pid, n in diff.causes().items()
        ],
    )
    rows = []
    for f in diff.flips[:examples]:
        prompt, a, b = diff.pairs.get(f.pair_id, ("", "", ""))
        rows.append(
            [
                f.pair_id,
                f"{f.p_old:.3f} → {f.p_new:.3f}",
                f"{f.cause} ({f.push:+.3f})",
                clip(prompt, 80),
                clip(a, 100),
                clip(b, 100),
            ]
        )
    if rows:
        doc.h3(f"Examples (first {len(rows)} of {len(diff.flips)})")
        doc.table(["pair", "p(A ≻ B)", "cause (push)", "prompt", "response A", "response B"], rows)
    if diff.only_old or diff.only_new:
        doc.p(
            f"Labelled under one version only (unlabeled or filtered under the other): {len(diff.only_old)} old, "
            f"{len(diff.only_new)} new."
        )
    return doc


def _kind(diff: ConstitutionDiff, pid: str) -> str:
    for c in diff.changes:
        if c.id == pid:
            return c.kind
    return "redrawn"


__all__ = [
    "CHANGE_MEANING",
    "ConstitutionDiff",
    "DiffConstitutionConfig",
    "Flip",
    "PrincipleChange",
    "counted",
    "diff_constitutions",
    "diff_document",
    "principle_changes",
]
