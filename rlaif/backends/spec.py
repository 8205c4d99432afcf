"""A model role's spec: which model, on which backend, with which options and adapter.

The same object names the policy, the critic and the reward model in a pipeline file (``models.critic: {backend:
openai, model: gpt-4o-mini}``), in a stage's job (:mod:`rlaif.jobs`) and on the command line (``--critic``,
``--backend``, ``--backend-option``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from rlaif.errors import RlaifError
from rlaif.strict import StrictConfig

#: backends that run the weights in this process (and so can load a peft adapter)
LOCAL_BACKENDS = ("transformers", "vllm", "mock")


class ModelSpec(StrictConfig):
    """One role's model on its own backend: ``{backend: openai, model: gpt-4o-mini, options: {base_url: ...}}``.

    A bare string (``critic: smollm2``) is shorthand for ``{model: smollm2}`` on the shared ``models.backend``.
    """

    model: str = Field(description="model alias, local path, hub id, or the served model name")
    backend: str | None = Field(default=None, description="this role's backend; null = models.backend")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="this role's backend options (on top of models.backend_options when the backend is shared)",
    )
    adapter: str | None = Field(
        default=None, description="a peft adapter folder on this role's model (local backends only)"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        # a bare string is the shorthand for {model: NAME} (a pipeline's `critic: smollm2`, a job's critic="...")
        return {"model": value} if isinstance(value, str) else value

    @property
    def engine(self) -> str:
        """The backend this spec runs on (``transformers`` when none is named)."""
        return self.backend or "transformers"

    def backend_options(self, role: str = "model") -> dict[str, Any]:
        """The options :func:`rlaif.backends.registry.make_backend` gets: the spec's options plus its adapter.

        An adapter only goes to a local backend: a served model cannot load one, so asking for it there is a clear
        error rather than a failed request.
        """
        opts = dict(self.options)
        if self.adapter is not None:
            if self.engine not in LOCAL_BACKENDS:
                raise RlaifError(
                    f"the {role} runs on the {self.engine} backend, which cannot load the adapter {self.adapter}",
                    field=f"models.{role}",
                    hint="put this role on a local backend (transformers or vllm), or serve the adapter yourself "
                    "and name the served model",
                )
            if self.engine != "mock":
                opts["adapter"] = str(self.adapter)
        return opts
