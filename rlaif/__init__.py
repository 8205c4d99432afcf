"""rlaif: constitutional self-alignment (RLAIF).

Constitutions are data (``principles/*.yaml``); a critic model applies them through Jinja2 templates
(``prompts/*.j2``) to produce AI feedback; principle-conditioned reward models and DPO/PPO trainers use it.

``import rlaif`` is light: torch, transformers and vLLM load only when a model is used. The names a user needs
(``rlaif.load_constitution``, ``rlaif.make_backend``, ``rlaif.judge_pair``, ``rlaif.label_dataset``, ``rlaif.run_label``,
``rlaif.train_reward_model``, ``rlaif.train_dpo``, ``rlaif.train_ppo``, ``rlaif.run_pipeline``, ...) load their
module on first use.
"""

from rlaif.errors import BackendError, DataFileError, ModelError, Problem, RlaifError, TemplateError
from rlaif.lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> module it lives in; loaded on first use (PEP 562), so ``import rlaif`` never loads torch
_LAZY: dict[str, str] = {
    # constitutions
    "load_constitution": "rlaif.constitution",
    "Constitution": "rlaif.constitution",
    # models
    "make_backend": "rlaif.backends.registry",
    # judging and labeling
    "judge_pair": "rlaif.api",
    "judge_pairs": "rlaif.feedback",
    "JudgeConfig": "rlaif.feedback",
    "label_dataset": "rlaif.feedback",
    "LabelConfig": "rlaif.feedback",
    "LabelJob": "rlaif.jobs.label",
    "run_label": "rlaif.jobs.label",
    "generate_responses": "rlaif.feedback",
    "GenerateConfig": "rlaif.feedback",
    "ReviseConfig": "rlaif.feedback",
    # a stage from files, as `rlaif generate` / `rlaif revise` / `rlaif eval policy` and a pipeline's round run it
    "GenerateJob": "rlaif.jobs.generate",
    "run_generate": "rlaif.jobs.generate",
    "ReviseJob": "rlaif.jobs.revise",
    "run_revise": "rlaif.jobs.revise",
    "EvaluateJob": "rlaif.jobs.evaluate",
    "run_evaluate": "rlaif.jobs.evaluate",
    # the constitution workbench's and contrast's runs, as `rlaif contrast` / `rlaif diff-constitution` /
    # `rlaif extract-constitution` run them
    "ContrastJob": "rlaif.jobs.contrast",
    "run_contrast": "rlaif.jobs.contrast",
    "DiffConstitutionJob": "rlaif.jobs.diff_constitution",
    "run_diff_constitution": "rlaif.jobs.diff_constitution",
    "ExtractConstitutionJob": "rlaif.jobs.extract_constitution",
    "run_extract_constitution": "rlaif.jobs.extract_constitution",
    "ModelSpec": "rlaif.backends.spec",
    # training
    "train_reward_model": "rlaif.reward",
    "RewardConfig": "rlaif.reward",
    "train_dpo": "rlaif.policy.dpo",
    "DPOConfig": "rlaif.policy.dpo",
    "train_ppo": "rlaif.policy.ppo",
    "PPOConfig": "rlaif.policy.ppo",
    # pipelines
    "load_pipeline": "rlaif.loop.runner",
    "run_pipeline": "rlaif.loop.runner",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)


__all__ = [
    "BackendError",
    "DataFileError",
    "ModelError",
    "Problem",
    "RlaifError",
    "TemplateError",
    "__version__",
    *sorted(_LAZY),
]
