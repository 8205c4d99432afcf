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

#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.constitution": ("load_constitution", "Constitution"),
    "rlaif.backends.registry": ("make_backend",),
    "rlaif.api": ("judge_pair",),
    "rlaif.feedback": (
        "judge_pairs",
        "JudgeConfig",
        "label_dataset",
        "LabelConfig",
        "generate_responses",
        "GenerateConfig",
        "ReviseConfig",
    ),
    "rlaif.jobs.label": ("LabelJob", "run_label"),
    "rlaif.jobs.generate": ("GenerateJob", "run_generate"),
    "rlaif.jobs.revise": ("ReviseJob", "run_revise"),
    "rlaif.jobs.evaluate": ("EvaluateJob", "run_evaluate"),
    "rlaif.jobs.contrast": ("ContrastJob", "run_contrast"),
    "rlaif.jobs.diff_constitution": ("DiffConstitutionJob", "run_diff_constitution"),
    "rlaif.jobs.extract_constitution": ("ExtractConstitutionJob", "run_extract_constitution"),
    "rlaif.backends.spec": ("ModelSpec",),
    "rlaif.reward": ("train_reward_model", "RewardConfig"),
    "rlaif.policy.dpo": ("train_dpo", "DPOConfig"),
    "rlaif.policy.ppo": ("train_ppo", "PPOConfig"),
    "rlaif.loop.runner": ("load_pipeline", "run_pipeline"),
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
    *sorted(n for names in _LAZY.values() for n in names),
]
