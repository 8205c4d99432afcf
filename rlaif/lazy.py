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
    namespace: dict[str, Any], modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names (``modules``: module -> the names it
    gives, read like ``from module import names``) load on first use.

    A loaded name is stored in ``namespace`` (the package's ``globals()``), so later lookups skip ``__getattr__``.
    """
    package = namespace.get("__name__", "package")
    exports = {name: module for module, names in modules.items() for name in names}
    if len(exports) != sum(len(names) for names in modules.values()):
        raise ValueError(f"{package}: a name is exported from two modules")

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
