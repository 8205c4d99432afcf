"""Reading prompt sets and preference files that users bring.

Prompt sets: JSON Lines, JSON (a list of objects), CSV, Parquet, or a local Hugging Face dataset folder (saved with
``save_to_disk``). A prompt is a string or a conversation (a list of ``{"role", "content"}`` messages). Other layouts
are read through a field mapping (``{"prompt": "question", "id": "qid"}``).

Preference files: TRL's format (``prompt``, ``chosen``, ``rejected``; plain or conversational) or the transcript format
where ``chosen`` and ``rejected`` are whole ``"\\n\\nHuman: …\\n\\nAssistant: …"`` dialogues sharing everything but the last
assistant turn.

Bad rows are reported with file and line; ``skip_bad_rows=True`` logs and skips them instead of stopping.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Principle
from rlaif.errors import DataFileError, Problem
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.hub_datasets import dataset_rows, hub_rows, is_hub_dataset_id

log = logging.getLogger(__name__)

Conversation = tuple[ChatMessage, ...]


@dataclass(frozen=True)
class PromptRow:
    """One prompt to respond to: an id, the conversation so far (ending with a user turn), and extra fields."""

    id: str
    conversation: Conversation
    split: str = "train"
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user message (for display)."""
        return self.conversation[-1].content


@dataclass(frozen=True)
class PreferencePair:
    """A human (or other) preference: ``chosen`` is better than ``rejected`` after ``conversation``."""

    id: str
    conversation: Conversation
    chosen: str
    rejected: str

    def comparison(self, chosen_first: bool = True, principles: Sequence[Principle] = ()) -> Comparison:
        """The two responses as a :class:`~rlaif.feedback.comparison.Comparison` (A = ``chosen`` when
        ``chosen_first``, else ``rejected``) with this pair's id, judged under ``principles``."""
        a, b = (self.chosen, self.rejected) if chosen_first else (self.rejected, self.chosen)
        return Comparison(self.id, self.conversation, a, b, tuple(principles))


class BadRow(ValueError):
    """A record that could not be parsed (a JSON Lines line that is not JSON); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def raw_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or row number, raw record) for every record of a supported file; raises DataFileError on bad bytes.

    A line of a JSON Lines file that is not JSON comes as a :class:`BadRow` (so every bad line can be reported at
    once).
    """
    if not path.exists():
        if is_hub_dataset_id(str(path)):  # org/name[:split]: a datasets hub id
            yield from hub_rows(str(path))
            return
        raise DataFileError("file not found", path=path)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            yield from _hf_rows(path)
            return
        raise DataFileError(
            "is a folder, not a data file",
            path=path,
            hint="pass a .jsonl/.json/.csv/.parquet file or a folder saved with datasets' save_to_disk",
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataFileError(f"not valid UTF-8 (byte {e.start})", path=path, line=line) from e
    if suffix in (".jsonl", ".ndjson"):
        for lineno, line_text in enumerate(text.splitlines(), start=1):
            if not line_text.strip():
                continue
            try:
                yield lineno, json.loads(line_text)
            except json.JSONDecodeError as e:
                yield lineno, BadRow(f"invalid JSON: {e.msg} (column {e.colno})")
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFileError(f"invalid JSON: {e.msg}", path=path, line=e.lineno, column=e.colno) from e
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))  # {"data": [...]} style
        if not isinstance(data, list):
            raise DataFileError("expected a JSON list of objects", path=path)
        yield from enumerate(data, start=1)
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        for row in reader:
            yield reader.line_num, dict(row)
    else:
        raise DataFileError(
            f"unsupported file type '{suffix}'", path=path, hint="use .jsonl, .json, .csv, .tsv or .parquet"
        )


def read_records(
    path: str | Path, *, what: str = "labels file", hint: str = "run `rlaif label` first, or check the path"
) -> tuple[set[str] | None, Iterator[tuple[int, Any]]]:
    """(the columns, when the format has a schema; :func:`raw_rows` of the file) for a local data file.

    ``what`` and ``hint`` word the error when the file is missing (``"<what> not found"``).
    """
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{what} not found", path=p, hint=hint)
    return file_columns(p), raw_rows(p)


def file_columns(path: Path) -> set[str] | None:
    """The column names of a parquet file (read from its schema alone); None for formats without a schema."""
    if path.suffix.lower() != ".parquet" or path.is_dir():
        return None
    import pyarrow.parquet as pq

    try:
        return set(pq.read_schema(path).names)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataFileError(f"cannot read parquet: {e}", path=path) from e


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq  # lazy: pyarrow comes with datasets

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataFileError(f"cannot read parquet: {e}", path=path) from e
    yield from enumerate(table.to_pylist(), start=1)


def _hf_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import datasets  # lazy

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise DataFileError(f"cannot load the dataset folder: {e}", path=path) from e
    yield from dataset_rows(ds)


def parse_conversation(value: Any, what: str) -> Conversation:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"'{what}' is empty")
        return (ChatMessage("user", value),)
    if isinstance(value, list) and value:
        turns = []
        for i, m in enumerate(value):
            if not isinstance(m, Mapping) or not isinstance(m.get("content"), str) or "role" not in m:
                raise ValueError(f"'{what}[{i}]' must be an object with 'role' and 'content'")
            if m["role"] not in ("system", "user", "assistant"):
                raise ValueError(f"'{what}[{i}].role' must be system, user or assistant, not {m['role']!r}")
            turns.append(ChatMessage(m["role"], m["content"]))
        return tuple(turns)
    raise ValueError(f"'{what}' must be a non-empty string or a list of messages")


def collect_rows(path: Path, problems: list[Problem], skip_bad_rows: bool, what: str) -> None:
    if not problems:
        return
    if skip_bad_rows:
        for p in problems:
            log.warning("skipping bad %s row: %s", what, p)
        return
    raise DataFileError(
        "",
        problems=problems[:20]
        + ([Problem(f"... and {len(problems) - 20} more", str(path))] if len(problems) > 20 else []),
        hint="fix the rows, or pass --skip-bad-rows to continue without them",
    )


def load_prompts(
    path: str | Path,
    *,
    field_map: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
) -> list[PromptRow]:
    """Load a prompt set. Each record needs a prompt (string or messages); ``id`` and ``split`` are optional.

    ``field_map`` maps our names (``prompt``, ``id``, ``split``) to the file's column names.
    """
    path = Path(path)
    fmap = {"prompt": "prompt", "id": "id", "split": "split", **(field_map or {})}
    rows: list[PromptRow] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, record in raw_rows(path):
        try:
            if isinstance(record, BadRow):
                raise ValueError(record.reason)
            if not isinstance(record, Mapping):
                raise ValueError("each row must be an object")
            if fmap["prompt"] not in record:
                raise ValueError(
                    f"missing field '{fmap['prompt']}' (map another column with a field mapping)"
                )
            conversation = parse_conversation(record[fmap["prompt"]], fmap["prompt"])
            if conversation[-1].role != "user":
                raise ValueError("the conversation must end with a user message")
            row_id = str(record.get(fmap["id"]) or f"{path.stem}-{number}")
            if row_id in seen:
                raise ValueError(f"duplicate id '{row_id}'")
            seen.add(row_id)
            split = str(record.get(fmap["split"]) or "train")
            meta = {k: v for k, v in record.items() if k not in fmap.values()}
            rows.append(PromptRow(row_id, conversation, split, meta))
        except ValueError as e:
            problems.append(Problem(str(e), str(path), line=number))
    collect_rows(path, problems, skip_bad_rows, "prompt")
    if not rows:
        raise DataFileError("no prompts found", path=path)
    return rows


_HUMAN = "\n\nHuman:"
_ASSISTANT = "\n\nAssistant:"


def parse_transcript(text: str) -> Conversation:
    """Split a ``"\\n\\nHuman: …\\n\\nAssistant: …"`` dialogue into messages."""
    if not text.startswith(_HUMAN) and not text.startswith("Human:"):
        raise ValueError("a transcript must start with 'Human:'")
    text = text if text.startswith("\n\n") else "\n\n" + text
    messages: list[ChatMessage] = []
    pos = 0
    while pos < len(text):
        if text.startswith(_HUMAN, pos):
            role, start = "user", pos + len(_HUMAN)
        elif text.startswith(_ASSISTANT, pos):
            role, start = "assistant", pos + len(_ASSISTANT)
        else:
            raise ValueError(f"unexpected text at character {pos}")
        nxt = [i for i in (text.find(_HUMAN, start), text.find(_ASSISTANT, start)) if i != -1]
        end = min(nxt) if nxt else len(text)
        messages.append(ChatMessage(role, text[start:end].strip()))  # type: ignore[arg-type]
        pos = end
    return tuple(messages)


def pair_from_transcripts(chosen: str, rejected: str) -> tuple[Conversation, str, str]:
    c, r = parse_transcript(chosen), parse_transcript(rejected)
    if c[-1].role != "assistant" or r[-1].role != "assistant":
        raise ValueError("chosen and rejected must end with an Assistant turn")
    if c[:-1] != r[:-1]:
        raise ValueError("chosen and rejected must share every turn but the last")
    return c[:-1], c[-1].content, r[-1].content


def response_text(value: Any, what: str = "response") -> str:
    """A response's text: the string itself, or the last (assistant) turn of a conversational row's messages."""
    if isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and value
        and isinstance(value[-1], Mapping)
        and value[-1].get("role") == "assistant"
    ):
        return str(value[-1]["content"])
    raise ValueError(f"'{what}' must be a string or a list of messages ending with an assistant turn")


def load_preferences(path: str | Path, *, skip_bad_rows: bool = False) -> list[PreferencePair]:
    """Load a preference file in TRL format (plain or conversational) or the transcript format (auto-detected)."""
    path = Path(path)
    pairs: list[PreferencePair] = []
    problems: list[Problem] = []
    for number, record in raw_rows(path):
        try:
            if isinstance(record, BadRow):
                raise ValueError(record.reason)
            if not isinstance(record, Mapping) or "chosen" not in record or "rejected" not in record:
                raise ValueError("each row needs 'chosen' and 'rejected'")
            row_id = str(record.get("id") or f"{path.stem}-{number}")
            if record.get("prompt") in (None, ""):
                conversation, chosen, rejected = pair_from_transcripts(record["chosen"], record["rejected"])
            else:
                conversation = parse_conversation(record["prompt"], "prompt")
                chosen = response_text(record["chosen"], "chosen")
                rejected = response_text(record["rejected"], "rejected")
            pairs.append(PreferencePair(row_id, conversation, chosen, rejected))
        except (ValueError, TypeError, AttributeError) as e:
            problems.append(Problem(str(e), str(path), line=number))
    collect_rows(path, problems, skip_bad_rows, "preference")
    if not pairs:
        raise DataFileError("no preference pairs found", path=path)
    return pairs
