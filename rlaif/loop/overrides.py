"""Dotted command-line overrides of pipeline fields: ``rounds=3 policy.method=ppo label.k=4``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlaif.errors import DataFileError
from rlaif.yamlfile import load_yaml_text


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a", "b", "c"], value); the value is read as a YAML scalar or flow collection."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise DataFileError(
            f"override {text!r} is not of the form key.path=value",
            field=key or None,
            hint="e.g. rounds=3 policy.method=ppo label.k=4 constitution=[principles/style.yaml]",
        )
    value = load_yaml_text(raw, f"override {key}").data if raw.strip() else ""
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each override set (intermediate mappings are created as needed)."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = out
        for i, part in enumerate(path[:-1]):
            nxt = node.get(part) if isinstance(node, dict) else None
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise DataFileError(
                    f"override {text!r}: '{'.'.join(path[: i + 1])}' is not a mapping, cannot set a field inside it",
                    field=".".join(path),
                )
            node = nxt
        node[path[-1]] = value
    return out
