"""Loading YAML data files (constitutions, pipelines) safely, with errors that name the file, line and field.

Every rlaif data file goes through here:

* safe loading only (a :class:`yaml.SafeLoader` subclass: no Python tags, no code);
* duplicate keys are an error, reported at the line of the second occurrence (PyYAML silently keeps the last);
* YAML 1.2 core scalars: only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` stay text),
  dates stay text, and ``=`` is text (PyYAML's YAML 1.1 rules turn ``no`` into ``False`` — "the Norway problem");
* the line and column of every mapping key and sequence item are recorded, so that every pydantic validation
  error is reported at the line of the field it is about (``principles[3].weight``), all errors at once;
* unknown fields are reported with a "did you mean" suggestion.

All failures raise :class:`rlaif.errors.DataFileError` carrying one :class:`rlaif.errors.Problem` per mistake.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rlaif.errors import DataFileError, Problem

M = TypeVar("M", bound=BaseModel)

#: A location inside a document: mapping keys and sequence indices from the root.
Loc = tuple[Any, ...]

#: Data files larger than this are refused: they are hand-written configuration, not datasets.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Deepest nesting accepted (guards the recursive walkers, and pydantic, against pathological input).
MAX_DEPTH = 64
#: Most nodes a document may expand to. Aliases share structure, so a tiny file can expand to billions of nodes
#: ("billion laughs"); walking it would never finish.
MAX_NODES = 100_000


# --------------------------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------------------------


class _DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class _ValueConstructionError(yaml.MarkedYAMLError):
    pass


class RlaifSafeLoader(yaml.SafeLoader):
    """A :class:`yaml.SafeLoader` with YAML 1.2 core scalars that rejects duplicate mapping keys.

    The implicit-type rules are a strict subset of PyYAML's YAML 1.1 rules, so anything PyYAML's dumper writes
    unquoted as text also reads back as text here.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a key that appears twice (merge keys ``<<`` may be overridden)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable key: PyYAML reports it below with its position
                if first is not None:
                    raise _DuplicateKeyError(
                        None,
                        None,
                        f"duplicate key {key!r} (first defined on line {first.start_mark.line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Build one value; a malformed explicitly tagged scalar (``!!int abc``) becomes a positioned error."""
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError) as e:
            raise _ValueConstructionError(
                None, None, f"cannot read this value as {node.tag}: {e}", node.start_mark
            ) from None


_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _regexp, _first in _RESOLVERS:
    # PyYAML looks resolvers up by the scalar's first character; "" is the key for the empty scalar
    _starts = [*_first, ""] if _tag.endswith(":null") else list(_first)
    RlaifSafeLoader.add_implicit_resolver(_tag, re.compile(_regexp), _starts)


# --------------------------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """1-based line and column of a key or item in a file."""

    line: int
    column: int


@dataclass
class YamlDocument:
    """A parsed YAML document: its data, where each key and item sits in the file, and the file's label."""

    data: Any
    path_label: str
    positions: dict[Loc, Position] = field(default_factory=dict)

    def position(self, loc: Loc) -> Position | None:
        """The position of ``loc``, or of its nearest enclosing key/item that has one."""
        for n in range(len(loc), -1, -1):
            pos = self.positions.get(tuple(loc[:n]))
            if pos is not None:
                return pos
        return None

    def problem(self, loc: Loc, message: str) -> Problem:
        """A :class:`Problem` at ``loc`` (line from the file, field as ``a.b[2].c``)."""
        pos = self.position(loc)
        return Problem(
            message=message,
            path=self.path_label,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
            field=format_loc(loc, self.data) or None,
        )


def format_loc(loc: Loc, data: Any = None) -> str:
    """``('principles', 3, 'weight')`` → ``principles[3].weight``.

    With ``data``, integer keys of mappings are told apart from sequence indices by walking the data.
    """
    out = ""
    node = data
    for part in loc:
        in_list = isinstance(node, list | tuple) if data is not None else isinstance(part, int)
        if in_list and isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
        if data is not None:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                data = None  # past the data: fall back to guessing from the part's type
    return out


def _mark_position(mark: yaml.Mark | None) -> Position | None:
    return Position(mark.line + 1, mark.column + 1) if mark is not None else None


def _yaml_problem(e: yaml.YAMLError, path_label: str) -> Problem:
    """A PyYAML error as a Problem at yaml's own line/column, with a hint for the usual mistakes."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        pos = _mark_position(mark)
        parts = [p for p in (e.context, e.problem) if p]
        message = ": ".join(parts) if parts else str(e)
        if e.problem and ("'\\t'" in e.problem or "tab" in e.problem):
            message += " (YAML indentation must use spaces, not tabs)"
        elif e.problem and (
            "mapping values are not allowed" in e.problem
            or "expected <block end>" in e.problem
            or "did not find expected" in e.problem
        ):
            message += " (check the indentation and any ':' inside unquoted text; quote such text)"
        return Problem(
            message=f"invalid YAML: {message}",
            path=path_label,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
        )
    return Problem(message=f"invalid YAML: {e}", path=path_label)


class _TooBig(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.mark = mark


def _record_positions(loader: RlaifSafeLoader, root: yaml.Node, data: Any) -> dict[Loc, Position]:
    """Walk the composed node tree alongside the constructed data, recording where each key and item is.

    Runs after construction, when PyYAML has already flattened merge keys (``<<``) into each mapping node,
    merged pairs first: a key given explicitly after a merge is recorded at its own line, as it overrides.
    """
    positions: dict[Loc, Position] = {(): Position(root.start_mark.line + 1, root.start_mark.column + 1)}
    budget = [MAX_NODES]

    def walk(node: yaml.Node, value: Any, loc: Loc) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooBig(f"the document expands to more than {MAX_NODES} values (aliases?)", node.start_mark)
        if len(loc) > MAX_DEPTH:
            raise _TooBig(f"the document is nested more than {MAX_DEPTH} levels deep", node.start_mark)
        if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = loader.construct_object(key_node)
                try:
                    child = value[key]
                except (KeyError, TypeError):
                    continue
                positions[(*loc, key)] = Position(
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
                walk(value_node, child, (*loc, key))
        elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
            for i, (item_node, item) in enumerate(zip(node.value, value, strict=False)):
                positions[(*loc, i)] = Position(
                    item_node.start_mark.line + 1, item_node.start_mark.column + 1
                )
                walk(item_node, item, (*loc, i))

    walk(root, data, ())
    return positions


def load_yaml_text(text: str, path_label: str = "<string>") -> YamlDocument:
    """Parse one YAML document from ``text`` (duplicate keys rejected, positions recorded).

    An empty document (only whitespace or comments) gives ``data=None``; callers decide whether that is an error.
    Raises :class:`DataFileError` for syntax errors, duplicate keys, several documents, or oversized documents.
    """
    loader = RlaifSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(data=None, path_label=path_label)
        data = loader.construct_document(node)
        positions = _record_positions(loader, node, data)
    except yaml.YAMLError as e:
        raise DataFileError(str(e), problems=[_yaml_problem(e, path_label)]) from None
    except _TooBig as e:
        pos = _mark_position(e.mark)
        raise DataFileError(
            str(e), path=path_label, line=pos.line if pos else None, column=pos.column if pos else None
        ) from None
    except RecursionError:
        raise DataFileError(
            f"the document is nested too deeply to read (more than {MAX_DEPTH} levels)", path=path_label
        ) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, path_label=path_label, positions=positions)


def read_text_file(path: Path, *, what: str = "file") -> str:
    """Read a UTF-8 text file, with clear errors for a missing path, a folder, binary or non-UTF-8 content.

    A UTF-8 byte-order mark is dropped. ``what`` names the kind of file in messages ("constitution").
    """
    label = str(path)
    if not path.exists():
        raise DataFileError(f"{what} file not found", path=label, hint="check the path")
    if path.is_dir():
        raise DataFileError(f"expected a {what} file but this is a directory", path=label)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataFileError(
                f"{what} file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})", path=label
            )
        raw = path.read_bytes()
    except OSError as e:
        raise DataFileError(f"cannot read {what} file: {e.strerror or e}", path=label) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFileError(f"{what} file looks UTF-16 encoded", path=label, line=1, hint="save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataFileError(
            f"{what} file is not valid UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start} "
            f"(line {line}, column {column}) cannot be decoded",
            path=label,
            line=line,
            column=column,
            hint="save the file as UTF-8",
        ) from None
    if "\x00" in text:
        offset = text.index("\x00")
        raise DataFileError(
            f"{what} file contains a NUL character (is it a binary file?)",
            path=label,
            line=text.count("\n", 0, offset) + 1,
        )
    return text.removeprefix("\ufeff")


def load_yaml_file(path: Path, *, what: str = "data") -> YamlDocument:
    """Read and parse a YAML file; an empty file is an error here."""
    text = read_text_file(path, what=what)
    doc = load_yaml_text(text, str(path))
    if doc.data is None:
        raise DataFileError(
            f"{what} file is empty"
            if not text.strip()
            else f"{what} file holds no data (only comments or null)",
            path=str(path),
            hint=f"see docs/{what}s.md for the format" if what == "constitution" else None,
        )
    return doc


# --------------------------------------------------------------------------------------------------------------
# Validation against a pydantic model
# --------------------------------------------------------------------------------------------------------------


def validate_document(doc: YamlDocument, model: type[M], *, what: str = "data") -> M:
    """Validate a parsed document with ``model``; every validation error becomes a Problem at its line."""
    if not isinstance(doc.data, dict):
        kind = _kind_name(doc.data)
        raise DataFileError(
            f"a {what} file must be a mapping of fields (e.g. 'name: ...'), but this one holds {kind}",
            path=doc.path_label,
            line=1,
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        problems = validation_problems(e, doc, model)
        raise DataFileError(f"invalid {what}", problems=problems) from None
    except RecursionError:
        raise DataFileError(f"the {what} is nested too deeply", path=doc.path_label) from None


def load_yaml_model(path: Path, model: type[M], *, what: str) -> M:
    """Read ``path`` as YAML and validate it with ``model``.

    Raises :class:`DataFileError` naming the file, line and field of every problem: missing file, a directory,
    non-UTF-8 bytes, empty file, YAML syntax (tabs, indentation), duplicate keys, and every pydantic error.
    """
    return validate_document(load_yaml_file(path, what=what), model, what=what)


def validation_problems(
    error: ValidationError, doc: YamlDocument, model: type[BaseModel] | None = None
) -> list[Problem]:
    """One Problem per pydantic error, located at the line of the field (or its nearest enclosing one).

    A validator may point below its own field by raising ``PydanticCustomError`` with ``ctx={"at": (...)}``:
    the tuple is appended to the error's location (used to name the second of two duplicate ids).
    """
    problems: list[Problem] = []
    errors = error.errors(include_url=False)
    # "at least 1 item after validation" only restates that the items below it failed: drop it then
    failed_locs = [tuple(e.get("loc", ())) for e in errors]
    errors = [
        e
        for e in errors
        if not (
            e.get("type") == "too_short"
            and any(
                len(other) > len(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
                for other in failed_locs
            )
        )
    ]
    for err in errors:
        loc: Loc = tuple(err.get("loc", ()))
        ctx = err.get("ctx") or {}
        at = ctx.get("at")
        if isinstance(at, tuple):
            loc = (*loc, *at)
        problems.append(doc.problem(loc, _error_message(err, loc, doc, model)))
    problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return problems


def _error_message(err: Mapping[str, Any], loc: Loc, doc: YamlDocument, model: type[BaseModel] | None) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden" and loc:
        key = loc[-1]
        known = _fields_at(model, loc[:-1], doc.data) if model is not None else []
        message = f"unknown field {key!r}"
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6) if known else []
        if close:
            return f"{message} (did you mean {close[0]!r}?)"
        if known:
            return f"{message} (known fields: {', '.join(known)})"
        return message
    if kind == "missing" and loc:
        return f"missing required field {loc[-1]!r}"
    if kind == "too_short" and isinstance(err.get("ctx"), Mapping):
        least, got = err["ctx"].get("min_length"), err["ctx"].get("actual_length")
        if isinstance(least, int):
            entries = "entry" if least == 1 else "entries"
            return f"needs at least {least} {entries}, got {got if got else 'none'}"
    if kind in ("value_error", "assertion_error"):
        msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
    inp = err.get("input")
    if kind not in ("missing",) and isinstance(inp, str | int | float | bool) and not isinstance(inp, dict):
        shown = repr(inp)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if shown not in msg:
            msg = f"{msg} (got {shown})"
    return msg


def _kind_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a single text value"
    return f"a single {type(value).__name__} value"


def _fields_at(model: type[BaseModel], loc: Loc, data: Any) -> list[str]:
    """Field names of the pydantic model found at ``loc`` below ``model`` (empty if it is not a model)."""
    current: Any = model
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _descend(annotation: Any, part: Any) -> Any:
    """The type of ``part`` (a field name or an index) inside ``annotation``."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(part) if isinstance(part, str) else None
        return _unwrap(info.annotation) if info is not None else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (tuple, list) and isinstance(part, int) and args:
        return _unwrap(args[0])
    if origin is dict and args:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


__all__ = [
    "MAX_FILE_BYTES",
    "Position",
    "RlaifSafeLoader",
    "YamlDocument",
    "format_loc",
    "load_yaml_file",
    "load_yaml_model",
    "load_yaml_text",
    "read_text_file",
    "validate_document",
    "validation_problems",
]
