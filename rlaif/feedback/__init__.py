"""AI feedback: responses from a policy, pairwise soft preference labels from a critic, rule checks, datasets.

>>> from rlaif.feedback import GenerateConfig, LabelConfig, generate_responses, label_dataset  # doctest: +SKIP
>>> sets = generate_responses(policy, load_prompts("data/prompts/smoke.jsonl"), GenerateConfig(n=2))
>>> run = label_dataset(sets, load_constitution("principles/hhh.yaml"), critic, TemplateSet.load(), LabelConfig(k=4))
>>> write_label_run(run, "out/labels")

Wrap model backends in :class:`CachedBackend` so killed runs resume. See ``docs/feedback.md``.
"""

from rlaif.lazy import lazy_exports

#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.feedback.call_cache": ("CachedBackend", "CallCache"),
    "rlaif.feedback.comparison": ("Comparison",),
    "rlaif.feedback.responses": (
        "GenerateConfig",
        "ResponseSet",
        "generate_responses",
        "read_responses",
        "write_responses",
    ),
    "rlaif.feedback.judge": ("JudgeConfig", "Unlabeled", "judge_pairs"),
    "rlaif.feedback.labeler": ("LabelConfig", "LabelRun", "label_dataset"),
    "rlaif.feedback.scores": ("PointwiseScore", "ScoreConfig", "ScoreItem", "score_responses"),
    "rlaif.feedback.inputs": ("PreferencePair", "PromptRow", "load_preferences", "load_prompts"),
    "rlaif.feedback.soft_labels": ("PrincipleJudgement", "SoftLabel", "ensemble", "judgement_from_logprobs"),
    "rlaif.feedback.pairs": ("ResponsePair", "make_pairs"),
    "rlaif.feedback.revise_config": ("ReviseConfig", "ReviseRun"),
    "rlaif.feedback.dataset_io": ("read_rows", "write_card", "write_rows"),
    "rlaif.feedback.revise": ("revise",),
    "rlaif.feedback.label_output": ("write_label_run",),
    "rlaif.feedback.revise_output": ("write_revise_run",),
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = sorted(name for names in _LAZY.values() for name in names)
