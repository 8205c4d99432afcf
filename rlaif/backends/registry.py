"""The one table of backends: name → ``"module:Class"``.

A backend is chosen by name (CLI ``--backend``, pipeline ``backend:``, or :func:`make_backend` in Python). The table
holds import strings rather than classes so that listing or choosing a backend never imports torch, vLLM or httpx:
the backend class itself imports its heavy dependency inside its constructor.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from rlaif.backends.base import Backend
from rlaif.errors import BackendError, RlaifError

#: backend name → "module:Class". The first entry is the default.
BACKENDS: dict[str, str] = {
    "transformers": "rlaif.backends.transformers_backend:TransformersBackend",
    "vllm": "rlaif.backends.vllm_backend:VLLMBackend",
    "openai": "rlaif.backends.openai_backend:OpenAIBackend",
    "mock": "rlaif.backends.mock:MockBackend",
}

DEFAULT_BACKEND = "transformers"


def available_backends() -> list[str]:
    """The names :func:`make_backend` accepts, default first."""
    return list(BACKENDS)


def backend_class(name: str) -> type[Any]:
    """The class registered under ``name`` (imports its module, which stays light until instantiated)."""
    target = BACKENDS.get(name)
    if target is None:
        raise RlaifError(
            f"unknown backend {name!r}",
            field="backend",
            hint=f"choose one of: {', '.join(available_backends())}",
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(
            name,
            f"its module {module_name} could not be imported: {exc}",
            hint="reinstall rlaif (`make install`); for vllm use `make test-vllm`'s environment",
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise BackendError(name, f"{module_name} has no class {class_name}", hint="reinstall rlaif")
    return cast(type[Any], cls)


def make_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build the backend registered under ``name``.

    ``model`` is a model alias (``"smollm2"``), hub id or local path (for ``openai``: the served model name); when
    ``None`` the backend's own default is used. ``options`` go to the backend's constructor as keywords (e.g.
    ``device``, ``dtype``, ``batch_size`` for transformers; ``base_url`` for openai; scripted rules for mock).
    Unknown names raise :class:`~rlaif.errors.RlaifError` listing the known ones.
    """
    cls = backend_class(name)
    accepted = _keyword_parameters(cls)
    unknown = sorted(set(options) - accepted) if accepted is not None else []
    if unknown:
        raise BackendError(
            name,
            f"unknown option(s) {', '.join(unknown)}",
            hint=f"the {name} backend accepts: {', '.join(sorted(accepted or ()))}",
        )
    backend = cls(model, **options) if model is not None else cls(**options)
    return cast(Backend, backend)


def _keyword_parameters(cls: type[Any]) -> set[str] | None:
    """The keyword options a backend constructor takes (None when it takes ``**kwargs``: anything goes)."""
    import inspect

    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "model"
    }
