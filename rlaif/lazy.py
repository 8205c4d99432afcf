"""Packages whose public names load their module on first use (PEP 562), so importing the package stays cheap.

``import rlaif``, ``import rlaif.feedback`` and ``import rlaif.scale`` must not pull in torch, Ray or the whole
package: the CLI's ``--help`` and the light-import tests depend on it. A package lists ``name -> module`` once and
gets its ``__getattr__`` and ``__dir__`` from :func:`lazy_exports`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose ``exports`` (name -> module) load on first use.

    A loaded name is stored in ``namespace`` (the package's ``globals()``), so later lookups skip ``__getattr__``.
    """
    package = namespace.get("__name__", "package")

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
