"""Writing constitutions as clean, readable YAML that loads back to an equal :class:`Constitution`."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

from rlaif.atomic import atomic_write_text
from rlaif.constitution.schema import Constitution, Principle, Rule
from rlaif.errors import DataFileError

# Field order in written files: identity first, then what the critic reads, then the rule, then the contrast pair.
# A field not named here is written after them (in the schema's order), so no field is ever dropped.
_PRINCIPLE_ORDER = (
    "id",
    "version",
    "weight",
    "tags",
    "compare",
    "negation",
    "critique",
    "revision",
    "rule",
    "contrast",
)


class _Dumper(yaml.SafeDumper):
    """Block style everywhere, multi-line text as ``|`` blocks, no anchors/aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # indent sequences under their key ("principles:\n  - id: ..."), the common style in hand-written YAML
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)


def _rule_dict(rule: Rule) -> dict[str, Any]:
    data = rule.model_dump(mode="json", exclude_defaults=True)
    return {k: data[k] for k in Rule.model_fields if k in data}


def _principle_dict(p: Principle) -> dict[str, Any]:
    data = p.model_dump(mode="json", exclude_defaults=True)
    data["version"] = p.version
    data["weight"] = p.weight
    if p.rule is not None:
        data["rule"] = _rule_dict(p.rule)
    order = [*_PRINCIPLE_ORDER, *(k for k in Principle.model_fields if k not in _PRINCIPLE_ORDER)]
    return {k: data[k] for k in order if k in data}


def constitution_to_data(constitution: Constitution) -> dict[str, Any]:
    """Plain data in the order a person would write it (name, version, description, principles, examples)."""
    version: Any = constitution.version
    if re.fullmatch(r"[1-9][0-9]{0,8}", version):
        version = int(version)  # `version: 2` reads better than `version: '2'` and loads back as "2"
    data: dict[str, Any] = {"name": constitution.name, "version": version}
    if constitution.description:
        data["description"] = constitution.description
    data["principles"] = [_principle_dict(p) for p in constitution.principles]
    if constitution.examples:
        data["examples"] = [
            {"messages": [{"role": m.role, "content": m.content} for m in ex.messages]}
            for ex in constitution.examples
        ]
    return data


def dump_constitution_yaml(constitution: Constitution, *, header: str | None = None) -> str:
    """YAML text for ``constitution`` (block style, multi-line text as ``|``); ``header`` becomes ``#`` comments."""
    body = yaml.dump(
        constitution_to_data(constitution),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    if header:
        lines = [w for line in header.splitlines() for w in (textwrap.wrap(line, width=100) or [""])]
        comment = "".join(f"# {line}".rstrip() + "\n" for line in lines)
        return comment + body
    return body


def write_text_atomic(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Raises:
        DataFileError: the path exists and ``overwrite`` is false, it is a directory, or its folder is missing.
    """
    if path.is_dir():
        raise DataFileError("output path is a directory", path=str(path))
    if path.exists() and not overwrite:
        raise DataFileError("output file exists already", path=str(path), hint="pass --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataFileError("the output's folder does not exist", path=str(path))
    atomic_write_text(path, text)


__all__ = ["constitution_to_data", "dump_constitution_yaml", "write_text_atomic"]
