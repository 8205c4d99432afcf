"""AI feedback: responses from a policy, pairwise soft preference labels from a critic, rule checks, datasets.

>>> from rlaif.feedback import GenerateConfig, LabelConfig, generate_responses, label_dataset  # doctest: +SKIP
>>> sets = generate_responses(policy, load_prompts("data/prompts/smoke.jsonl"), GenerateConfig(n=2))
>>> run = label_dataset(sets, load_constitution("principles/hhh.yaml"), critic, TemplateSet.load(), LabelConfig(k=4))
>>> write_label_run(run, "out/labels")

Wrap model backends in :class:`CachedBackend` so killed runs resume. See ``docs/feedback.md``.
"""

from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.dataset_io import read_rows, write_card, write_rows
from rlaif.feedback.inputs import PreferencePair, PromptRow, load_preferences, load_prompts
from rlaif.feedback.judge import JudgeConfig, PairToJudge, Unlabeled, judge_pairs
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, LabelRun, label_dataset
from rlaif.feedback.pairs import ResponsePair, make_pairs
from rlaif.feedback.responses import (
    GenerateConfig,
    ResponseSet,
    generate_responses,
    read_responses,
    write_responses,
)
from rlaif.feedback.revise import revise
from rlaif.feedback.revise_config import ReviseConfig, ReviseRun
from rlaif.feedback.revise_output import write_revise_run
from rlaif.feedback.scores import (
    PointwiseScore,
    ScoreConfig,
    ScoreItem,
    score_responses,
)
from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel, ensemble, judgement_from_logprobs

__all__ = [
    "CachedBackend",
    "CallCache",
    "GenerateConfig",
    "JudgeConfig",
    "LabelConfig",
    "LabelRun",
    "PairToJudge",
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
