"""rlaif: constitutional self-alignment (RLAIF).

Constitutions are data (``principles/*.yaml``); a critic model applies them through Jinja2 templates
(``prompts/*.j2``) to produce AI feedback; principle-conditioned reward models and DPO/PPO trainers use it.

``import rlaif`` is light: torch, transformers and vLLM load only when a model is used.
"""

from rlaif.errors import BackendError, DataFileError, ModelError, Problem, RlaifError, TemplateError

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "DataFileError",
    "ModelError",
    "Problem",
    "RlaifError",
    "TemplateError",
    "__version__",
]
