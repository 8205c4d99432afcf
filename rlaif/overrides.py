"""The one ``key.path=value`` parser: ``--set``, ``--backend-option`` and ``rlaif run PIPELINE key=value`` all read
their items here, so a value means the same thing wherever a user types it.

* The key is a dotted path into nested settings (``policy.method``, ``run.batch_size``); no part may be empty.
* The value is read as a YAML scalar or flow collection with the project's safe loader (:mod:`rlaif.yamlfile`,
  YAML 1.2 scalars: ``no`` stays text, ``true`` is a boolean), so ``3`` is a number, ``[a, b]`` a list and
  ``{x: 1}`` a mapping. Numbers in JSON's notation are numbers too (``5e-4``, ``1E6``): YAML reads them as text,
  JSON (which ``--backend-option`` and ``train-rm --set`` used before) as numbers. Text that would only be a YAML
  *block* collection (``a: b``, ``- x``) stays text. An empty value is the empty string.
* ``lenient=True`` keeps a value that is not valid YAML (``[1,``, ``*x``) as its text instead of refusing it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from rlaif.errors import DataFileError

#: a number as JSON writes it (YAML 1.2 core agrees, but rlaif's loader reads ``5e-4`` as text)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")

DEFAULT_HINT = "write KEY=VALUE, e.g. rounds=3 or run.batch_size=4"


def parse_value(raw: str, *, label: str = "value", lenient: bool = False) -> Any:
    """``raw`` read as a YAML scalar or flow collection (see the module docstring); ``label`` names it in errors."""
    text = raw.strip()
    if not text:
        return ""
    if _JSON_NUMBER.fullmatch(text):
        return json.loads(text)
    from rlaif.yamlfile import load_yaml_text

    try:
        value = load_yaml_text(text, label).data
    except DataFileError:
        if lenient:
            return raw
        raise
    if isinstance(value, dict | list) and text[0] not in "[{":
        return raw  # a block collection ("a: b", "- x"): the user meant text
    return value


def parse_override(
    text: str,
    *,
    what: str = "override",
    field: str | None = None,
    hint: str | None = DEFAULT_HINT,
    lenient: bool = False,
) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` → ``(["a", "b", "c"], value)``.

    ``what`` names the item in messages (``"override 'x' is not key=value"``) and ``field`` is the field an error
    reports (default: the key); ``lenient`` keeps a value that is not valid YAML as text.
    Raises :class:`DataFileError` for a missing ``=``, an empty key or key part, or (not lenient) bad YAML.
    """
    key, sep, raw = text.partition("=")
    parts = [part.strip() for part in key.split(".")]
    if not sep or not all(parts):
        raise DataFileError(
            f"{what} {text!r} is not key=value"
            + (" (no part of the dotted key may be empty)" if sep else ""),
            field=field or key.strip() or None,
            hint=hint,
        )
    dotted = ".".join(parts)
    return parts, parse_value(raw, label=f"{what} {dotted}", lenient=lenient)


def set_path(data: dict[str, Any], path: Sequence[str], value: Any, *, what: str | None = None) -> None:
    """Set ``data[path[0]][path[1]]... = value`` in place, creating missing (or null) mappings on the way.

    Raises :class:`DataFileError` when a part on the way holds something other than a mapping; ``what`` (the item
    as typed) is quoted in that message.
    """
    node: Any = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            dotted = ".".join(path)
            raise DataFileError(
                f"cannot set {what or dotted!r}: '{'.'.join(path[: i + 1])}' is not a mapping of settings",
                field=dotted,
            )
        node = child
    node[path[-1]] = value


def apply_overrides(
    data: dict[str, Any],
    overrides: Sequence[str],
    *,
    what: str = "override",
    field: str | None = None,
    hint: str | None = DEFAULT_HINT,
    lenient: bool = False,
) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``key.path=value`` of ``overrides`` set, in order (later ones win)."""
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text, what=what, field=field, hint=hint, lenient=lenient)
        set_path(out, path, value, what=text)
    return out


__all__ = ["DEFAULT_HINT", "apply_overrides", "parse_override", "parse_value", "set_path"]
