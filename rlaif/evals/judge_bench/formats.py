"""Reading the row layouts that public judge benchmarks publish, into one shape: :class:`BenchItem`.

Every layout becomes a conversation, two or more responses and a human verdict on them:

==============  =======================================================  =============================================
format          fields                                                   human verdict
==============  =======================================================  =============================================
``trl``         ``prompt``, ``chosen``, ``rejected``                     chosen ≻ rejected
``transcript``  ``chosen``, ``rejected`` (whole "Human:/Assistant:"      chosen ≻ rejected
                dialogues, no ``prompt``)
``llmbar``      ``input``, ``output_1``, ``output_2``, ``label`` (1|2)   the labelled output
``judgebench``  ``question``, ``response_A``, ``response_B``,            "A>B" or "B>A" (``"A=B"``: a tie)
                ``label``
``pandalm``     ``instruction`` (+ ``input``), ``response1``,            each annotator says 1, 2 or 0 (tie): a soft
                ``response2``, ``annotator1``, ``annotator2``, …         label = share preferring response 1
``mtbench``     ``conversation_a``, ``conversation_b`` (message lists),  ``winner``: ``model_a``, ``model_b`` or a
                ``winner`` (+ ``question_id``, ``turn``, ``judge``)      ``tie`` (kept: agreement with ties)
``rewardbench`` ``prompt``, ``chosen`` (a string), ``rejected`` (a       the chosen response beats every rejected one
                list of strings)                                         (best-of-n)
==============  =======================================================  =============================================

The format is detected from the first good row's fields, or given (``--format``). A bad row is reported with file,
line and field. Row ids come from ``id`` / ``pair_id`` / ``question_id`` (+ ``turn`` and ``judge``), else the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.backends.base import ChatMessage
from rlaif.errors import DataFileError, Problem
from rlaif.feedback.inputs import (
    BadRow,
    collect_rows,
    pair_from_transcripts,
    parse_conversation,
    raw_rows,
    response_text,
)

Format = Literal["trl", "transcript", "llmbar", "judgebench", "pandalm", "mtbench", "rewardbench"]
FORMATS: tuple[str, ...] = ("trl", "transcript", "llmbar", "judgebench", "pandalm", "mtbench", "rewardbench")


@dataclass(frozen=True)
class BenchItem:
    """One benchmark row: a conversation, its candidate responses and what people said about them.

    Attributes:
        id: the row id (unique within the file).
        conversation: the conversation the responses continue (ends with a user turn).
        responses: two responses (pairwise) or more (best-of-n: ``responses[0]`` is the chosen one).
        winner: index of the human-preferred response; None for a human tie (pairwise only).
        soft: share of annotators preferring ``responses[0]`` over ``responses[1]`` (ties count half); None when
            there was a single verdict.
        annotators: how many people judged this row (1 unless the layout has several).
        line: the row's line (or row number) in the file.
    """

    id: str
    conversation: tuple[ChatMessage, ...]
    responses: tuple[str, ...]
    winner: int | None
    soft: float | None = None
    annotators: int = 1
    line: int = 0

    @property
    def best_of_n(self) -> bool:
        """More than two responses: the chosen one must beat all the others."""
        return len(self.responses) > 2


def detect_format(record: Mapping[str, Any]) -> Format:
    """The layout of one row, from its field names (see the module table)."""
    keys = set(record)
    if {"output_1", "output_2"} <= keys:
        return "llmbar"
    if {"response_A", "response_B"} <= keys:
        return "judgebench"
    if {"response1", "response2"} <= keys and any(k.startswith("annotator") for k in keys):
        return "pandalm"
    if {"conversation_a", "conversation_b"} <= keys:
        return "mtbench"
    if {"chosen", "rejected"} <= keys:
        if isinstance(record["rejected"], list) and all(isinstance(r, str) for r in record["rejected"]):
            return "rewardbench"
        return "trl" if record.get("prompt") not in (None, "") else "transcript"
    raise ValueError(
        "cannot tell the layout from the fields "
        + ", ".join(sorted(keys))
        + f" (known: {', '.join(FORMATS)}; pass --format)"
    )


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be a non-empty string")
    return value


def _row_id(record: Mapping[str, Any], number: int, stem: str) -> str:
    for key in ("id", "pair_id", "question_id"):
        if record.get(key) not in (None, ""):
            rid = str(record[key])
            extra = [
                str(record[k]) for k in ("turn", "judge", "model_a", "model_b") if record.get(k) is not None
            ]
            return ":".join([rid, *extra]) if key == "question_id" else rid
    return f"{stem}-{number}"


def _parse_llmbar(record: Mapping[str, Any]) -> tuple[tuple[ChatMessage, ...], tuple[str, ...], int | None]:
    label = record.get("label")
    if label not in (1, 2, "1", "2"):
        raise ValueError(f"'label' must be 1 or 2, got {label!r}")
    conv = (ChatMessage("user", _text(record, "input")),)
    return conv, (_text(record, "output_1"), _text(record, "output_2")), int(label) - 1


_JUDGEBENCH_LABELS = {"A>B": 0, "B>A": 1, "A>>B": 0, "B>>A": 1, "A=B": None, "B=A": None}


def _parse_judgebench(
    record: Mapping[str, Any],
) -> tuple[tuple[ChatMessage, ...], tuple[str, ...], int | None]:
    label = str(record.get("label", "")).replace(" ", "")
    if label not in _JUDGEBENCH_LABELS:
        raise ValueError(f"'label' must be 'A>B', 'B>A' or 'A=B', got {record.get('label')!r}")
    conv = (ChatMessage("user", _text(record, "question")),)
    return conv, (_text(record, "response_A"), _text(record, "response_B")), _JUDGEBENCH_LABELS[label]


def _parse_pandalm(record: Mapping[str, Any]) -> tuple[tuple[ChatMessage, ...], tuple[str, ...], float, int]:
    instruction = _text(record, "instruction")
    extra = record.get("input")
    prompt = f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
    votes = []
    for key in sorted(k for k in record if k.startswith("annotator")):
        v = record[key]
        if v in (None, ""):
            continue
        if v not in (0, 1, 2, "0", "1", "2"):
            raise ValueError(f"'{key}' must be 1 (response1), 2 (response2) or 0 (tie), got {v!r}")
        votes.append(int(v))
    if not votes:
        raise ValueError("no annotator verdict (annotator1, annotator2, …)")
    soft = sum(1.0 if v == 1 else 0.5 if v == 0 else 0.0 for v in votes) / len(votes)
    conv = (ChatMessage("user", prompt),)
    return conv, (_text(record, "response1"), _text(record, "response2")), soft, len(votes)


def _split_mtbench(value: Any, what: str) -> tuple[tuple[ChatMessage, ...], str]:
    conv = parse_conversation(value, what)
    if conv[-1].role != "assistant":
        raise ValueError(f"'{what}' must end with the assistant's reply")
    if len(conv) < 2:
        raise ValueError(f"'{what}' needs a user turn before the reply")
    return conv[:-1], conv[-1].content


def _parse_mtbench(record: Mapping[str, Any]) -> tuple[tuple[ChatMessage, ...], tuple[str, ...], int | None]:
    ctx_a, reply_a = _split_mtbench(record.get("conversation_a"), "conversation_a")
    ctx_b, reply_b = _split_mtbench(record.get("conversation_b"), "conversation_b")
    if [(m.role, m.content) for m in ctx_a if m.role == "user"] != [
        (m.role, m.content) for m in ctx_b if m.role == "user"
    ]:
        raise ValueError("'conversation_a' and 'conversation_b' must share the user turns")
    winner = str(record.get("winner", ""))
    table = {"model_a": 0, "model_b": 1, "tie": None, "tie (bothbad)": None}
    if winner not in table:
        raise ValueError(f"'winner' must be model_a, model_b or tie, got {record.get('winner')!r}")
    # earlier assistant turns differ between the two models: judge on model a's history (the usual reading)
    return ctx_a, (reply_a, reply_b), table[winner]


def _parse_rewardbench(record: Mapping[str, Any]) -> tuple[tuple[ChatMessage, ...], tuple[str, ...]]:
    conv = parse_conversation(record.get("prompt"), "prompt")
    chosen = record.get("chosen")
    if isinstance(chosen, list):
        if len(chosen) != 1:
            raise ValueError("'chosen' must be one response (a list of several chosen is not supported)")
        chosen = chosen[0]
    chosen_text = response_text(chosen, "chosen")
    rejected = record.get("rejected")
    if not isinstance(rejected, list) or not rejected:
        raise ValueError("'rejected' must be a non-empty list of responses")
    rej = tuple(response_text(r, f"rejected[{i}]") for i, r in enumerate(rejected))
    return conv, (chosen_text, *rej)


def parse_row(record: Mapping[str, Any], fmt: Format, number: int, stem: str) -> BenchItem:
    """One raw row in layout ``fmt`` as a :class:`BenchItem`; raises ValueError naming the bad field."""
    rid = _row_id(record, number, stem)
    if fmt in ("trl", "transcript"):
        if fmt == "transcript" or record.get("prompt") in (None, ""):
            conv, chosen, rejected = pair_from_transcripts(record["chosen"], record["rejected"])
        else:
            conv = parse_conversation(record["prompt"], "prompt")
            chosen = response_text(record["chosen"], "chosen")
            rejected = response_text(record["rejected"], "rejected")
        return BenchItem(rid, conv, (chosen, rejected), 0, line=number)
    if fmt == "llmbar":
        conv, responses, winner = _parse_llmbar(record)
        return BenchItem(rid, conv, responses, winner, line=number)
    if fmt == "judgebench":
        conv, responses, winner = _parse_judgebench(record)
        return BenchItem(rid, conv, responses, winner, line=number)
    if fmt == "pandalm":
        conv, responses, soft, n = _parse_pandalm(record)
        winner = 0 if soft > 0.5 else 1 if soft < 0.5 else None
        return BenchItem(rid, conv, responses, winner, soft=soft, annotators=n, line=number)
    if fmt == "mtbench":
        conv, responses, winner = _parse_mtbench(record)
        return BenchItem(rid, conv, responses, winner, line=number)
    conv, responses = _parse_rewardbench(record)
    return BenchItem(rid, conv, responses, 0, line=number)


def load_bench(
    path: str | Path, fmt: Format | None = None, *, skip_bad_rows: bool = False, limit: int | None = None
) -> tuple[Format, list[BenchItem]]:
    """Read a benchmark file (jsonl/json/csv/parquet) in a given or detected layout.

    Returns the layout and the items. Every bad row is reported with its line (all of them at once), or skipped
    with a warning when ``skip_bad_rows``. Duplicate ids are an error.
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise DataFileError(f"unknown format {fmt!r}", path=path, hint=f"known: {', '.join(FORMATS)}")
    items: list[BenchItem] = []
    problems: list[Problem] = []
    chosen_fmt: Format | None = fmt
    for number, record in raw_rows(path):
        if limit is not None and len(items) >= limit:
            break
        try:
            if isinstance(record, BadRow):
                raise ValueError(record.reason)
            if not isinstance(record, Mapping):
                raise ValueError("each row must be an object")
            if chosen_fmt is None:
                chosen_fmt = detect_format(record)
            items.append(parse_row(record, chosen_fmt, number, path.stem))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            msg = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            problems.append(Problem(msg, str(path), line=number))
    collect_rows(path, problems, skip_bad_rows, "benchmark")
    if not items or chosen_fmt is None:
        raise DataFileError("no benchmark rows found", path=path)
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            raise DataFileError(
                f"duplicate row id '{item.id}' (first on line {seen[item.id]})",
                path=path,
                line=item.line,
                field="id",
            )
        seen[item.id] = item.line
    return chosen_fmt, items


def items_from_pairs(pairs: Sequence[Any]) -> list[BenchItem]:
    """:class:`~rlaif.feedback.inputs.PreferencePair` objects (chosen ≻ rejected) as bench items."""
    return [BenchItem(p.id, p.conversation, (p.chosen, p.rejected), 0) for p in pairs]


__all__ = ["FORMATS", "BenchItem", "Format", "detect_format", "items_from_pairs", "load_bench", "parse_row"]
