"""AI feedback: responses from a policy, pairwise soft preference labels from a critic, rule checks, datasets.

>>> from rlaif.feedback import GenerateConfig, LabelConfig, generate_responses, label_dataset  # doctest: +SKIP
>>> sets = generate_responses(policy, load_prompts("data/prompts/smoke.jsonl"), GenerateConfig(n=2))
>>> run = label_dataset(sets, load_constitution("principles/hhh.yaml"), critic, TemplateSet.load(), LabelConfig(k=4))
>>> write_label_run(run, "out/labels")

Wrap model backends in :class:`CachedBackend` so killed runs resume. See ``docs/feedback.md``.
"""

from rlaif.lazy import lazy_exports

#: public name -> module it lives in; loaded on first use, so importing the package stays light
_LAZY: dict[str, str] = {
    "CachedBackend": "rlaif.feedback.call_cache",
    "CallCache": "rlaif.feedback.call_cache",
    "Comparison": "rlaif.feedback.comparison",
    "GenerateConfig": "rlaif.feedback.responses",
    "JudgeConfig": "rlaif.feedback.judge",
    "LabelConfig": "rlaif.feedback.labeler",
    "LabelRun": "rlaif.feedback.labeler",
    "PointwiseScore": "rlaif.feedback.scores",
    "PreferencePair": "rlaif.feedback.inputs",
    "PrincipleJudgement": "rlaif.feedback.soft_labels",
    "PromptRow": "rlaif.feedback.inputs",
    "ResponsePair": "rlaif.feedback.pairs",
    "ResponseSet": "rlaif.feedback.responses",
    "ReviseConfig": "rlaif.feedback.revise_config",
    "ReviseRun": "rlaif.feedback.revise_config",
    "ScoreConfig": "rlaif.feedback.scores",
    "ScoreItem": "rlaif.feedback.scores",
    "SoftLabel": "rlaif.feedback.soft_labels",
    "Unlabeled": "rlaif.feedback.judge",
    "ensemble": "rlaif.feedback.soft_labels",
    "generate_responses": "rlaif.feedback.responses",
    "judge_pairs": "rlaif.feedback.judge",
    "judgement_from_logprobs": "rlaif.feedback.soft_labels",
    "label_dataset": "rlaif.feedback.labeler",
    "load_preferences": "rlaif.feedback.inputs",
    "load_prompts": "rlaif.feedback.inputs",
    "make_pairs": "rlaif.feedback.pairs",
    "read_responses": "rlaif.feedback.responses",
    "read_rows": "rlaif.feedback.dataset_io",
    "revise": "rlaif.feedback.revise",
    "score_responses": "rlaif.feedback.scores",
    "write_card": "rlaif.feedback.dataset_io",
    "write_label_run": "rlaif.feedback.label_output",
    "write_responses": "rlaif.feedback.responses",
    "write_revise_run": "rlaif.feedback.revise_output",
    "write_rows": "rlaif.feedback.dataset_io",
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = [
    "CachedBackend",
    "CallCache",
    "Comparison",
    "GenerateConfig",
    "JudgeConfig",
    "LabelConfig",
    "LabelRun",
    "PointwiseScore",
    "PreferencePair",
    "PrincipleJudgement",
    "PromptRow",
    "ResponsePair",
    "ResponseSet",
    "ReviseConfig",
    "ReviseRun",
    "ScoreConfig",
    "ScoreItem",
    "SoftLabel",
    "Unlabeled",
    "ensemble",
    "generate_responses",
    "judge_pairs",
    "judgement_from_logprobs",
    "label_dataset",
    "load_preferences",
    "load_prompts",
    "make_pairs",
    "read_responses",
    "read_rows",
    "revise",
    "score_responses",
    "write_card",
    "write_label_run",
    "write_responses",
    "write_revise_run",
    "write_rows",
]
