"""Preference data for DPO: reading a labels dataset, tokenizing it, length-bucketed batches, and collation.

A labels dataset is what ``rlaif label`` (or ``rlaif revise``) writes — a folder holding ``data.parquet`` — or any
``.parquet`` / ``.jsonl`` / ``.json`` / ``.csv`` file in TRL's preference format (located, hashed and parsed by
:mod:`rlaif.feedback.labels_dataset`): ``prompt`` (text or messages),
``chosen`` and ``rejected`` (text, or a one-message assistant list), and optionally ``p_chosen`` (the soft label;
1.0 when absent), ``pair_id`` and ``constitution_hash``.

Rows whose chosen and rejected responses are identical carry no preference and are skipped (and counted). Prompts
longer than ``max_prompt_length`` lose tokens from the left (the start of a long conversation matters least);
responses that overflow ``max_length`` are cut at the end. Both are counted and reported.

How a batch of pairs is laid out for the model (concatenated, prompt shared through the KV cache, or packed into one
row per pair) is :mod:`rlaif.policy.dpo_batch`'s business.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlaif.backends.base import ChatMessage
from rlaif.errors import DataFileError, Problem
from rlaif.feedback.labels_dataset import (
    RowProblem,
    label_records,
    labels_file,
    labels_sha256,
    parse_label_row,
    raise_row_problems,
    require_columns,
    row_problem,
)

log = logging.getLogger(__name__)

PromptFormat = Literal["auto", "chat", "plain"]
Prompt = str | tuple[ChatMessage, ...]


@dataclass(frozen=True)
class PreferenceRow:
    """One labelled pair: ``p_chosen`` = p(chosen ≻ rejected)."""

    pair_id: str
    prompt: Prompt
    chosen: str
    rejected: str
    p_chosen: float = 1.0


@dataclass
class PreferenceData:
    """The usable rows of a labels dataset and what was learnt while reading it."""

    rows: list[PreferenceRow]
    file: Path
    sha256: str
    skipped_identical: int = 0
    constitution_hashes: list[str] = field(default_factory=list)
    soft: bool = False  # some p_chosen is strictly between 0 and 1

    @property
    def conversational(self) -> bool:
        """Whether prompts are message lists (they then need a chat template)."""
        return any(not isinstance(r.prompt, str) for r in self.rows)


def _from_messages(record: Mapping[str, Any]) -> dict[str, Any]:
    """An SFT row in the conversational ``messages`` format as prompt (all turns but the last) + chosen (the last,
    the assistant's). A malformed ``messages`` value is left for the row checks to report."""
    messages = record["messages"]
    out = dict(record)
    if (
        isinstance(messages, list)
        and len(messages) >= 2
        and isinstance(messages[-1], Mapping)
        and messages[-1].get("role") == "assistant"
    ):
        out["prompt"], out["chosen"] = list(messages[:-1]), messages[-1].get("content")
    else:
        out["prompt"] = messages
        out["chosen"] = None  # reported: 'chosen' missing
    return out


def read_preferences(path: str | Path, *, need_rejected: bool = True) -> PreferenceData:
    """Read and check a labels dataset (see the module doc).

    ``need_rejected=False`` reads SFT data: only ``prompt`` and ``chosen`` are required (or a conversational
    ``messages`` column whose last turn is the assistant's answer), and identical pairs are kept. Raises :class:`DataFileError` naming the file, row and column for every malformed row, and when required
    columns are missing or no usable row remains.
    """
    file = labels_file(path)
    required = ("prompt", "chosen", "rejected") if need_rejected else ("prompt", "chosen")
    rows: list[PreferenceRow] = []
    problems: list[Problem] = []
    hashes: set[str] = set()
    skipped = 0
    soft = False
    checked_columns = False
    for number, record in label_records(file):
        if (
            not need_rejected
            and isinstance(record, Mapping)
            and "messages" in record
            and "prompt" not in record
        ):
            record = _from_messages(record)  # conversational SFT rows (`rlaif revise` writes these)
        if not checked_columns and isinstance(record, Mapping):
            require_columns(
                file,
                required,
                record,
                hint="DPO needs TRL's preference columns prompt, chosen, rejected (and p_chosen for soft labels), "
                "as written by `rlaif label`"
                if need_rejected
                else "SFT needs prompt and chosen columns, or a messages column ending with the assistant's answer "
                "(as `rlaif revise` writes)",
            )
            checked_columns = True
        try:
            row = parse_label_row(number, record, need_rejected=need_rejected)
        except RowProblem as e:
            problems.append(row_problem(file, number, e))
            continue
        if need_rejected and row.chosen == row.rejected:
            skipped += 1
            continue
        p = 1.0 if row.p_chosen is None else row.p_chosen
        soft = soft or 0.0 < p < 1.0
        h = row.record.get("constitution_hash")
        if isinstance(h, str) and h:
            hashes.add(h)
        rows.append(PreferenceRow(row.pair_id, row.prompt, row.chosen, row.rejected, p))
    raise_row_problems(file, problems, hint="fix these rows (row numbers count from 1)")
    if skipped:
        log.warning("skipped %d pair(s) whose chosen and rejected responses are identical", skipped)
    if not rows:
        raise DataFileError(
            "no usable pairs in the labels dataset"
            + (f" ({skipped} skipped because chosen == rejected)" if skipped else ""),
            path=file,
            hint="label more pairs, or check the filters that produced this dataset",
        )
    return PreferenceData(rows, file, labels_sha256(file), skipped, sorted(hashes), soft)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizing
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizedRow:
    """Token ids of one pair (responses end with the end-of-turn token) and its soft label."""

    index: int  # position in PreferenceData.rows
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    p_chosen: float

    @property
    def length(self) -> int:
        """Tokens of the longer of the two sequences (what the batch is padded to)."""
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


@dataclass
class Truncation:
    """How many prompts lost tokens on the left and responses lost tokens on the right."""

    prompts: int = 0
    responses: int = 0


def _as_prompt(prompt: Prompt, fmt: PromptFormat, has_template: bool) -> Prompt:
    if not isinstance(prompt, str):
        return prompt
    use_chat = fmt == "chat" or (fmt == "auto" and has_template)
    return (ChatMessage("user", prompt),) if use_chat else prompt


def tokenize_pairs(
    policy: Any,
    rows: Sequence[PreferenceRow],
    *,
    max_length: int,
    max_prompt_length: int,
    prompt_format: PromptFormat = "auto",
    with_rejected: bool = True,
) -> tuple[list[TokenizedRow], Truncation]:
    """Tokenize with the policy's own encoding (:meth:`Policy.encode_prompt` / ``encode_response``).

    Plain-text prompts go through the chat template as one user message when ``prompt_format`` is ``chat``, or
    ``auto`` and the tokenizer has one (that is how ``rlaif generate`` prompted the policy); ``plain`` feeds the text
    as it is. Message-list prompts always need the chat template (a clear :class:`ModelError` otherwise).
    """
    has_template = bool(getattr(policy.tokenizer, "chat_template", None))
    out: list[TokenizedRow] = []
    trunc = Truncation()
    for i, row in enumerate(rows):
        prompt_ids = policy.encode_prompt(_as_prompt(row.prompt, prompt_format, has_template))
        if len(prompt_ids) > max_prompt_length:
            prompt_ids = prompt_ids[len(prompt_ids) - max_prompt_length :]
            trunc.prompts += 1
        budget = max_length - len(prompt_ids)
        chosen_ids = policy.encode_response(row.chosen)
        rejected_ids = policy.encode_response(row.rejected) if with_rejected else []
        if len(chosen_ids) > budget or len(rejected_ids) > budget:
            trunc.responses += 1
            chosen_ids, rejected_ids = chosen_ids[:budget], rejected_ids[:budget]
        out.append(TokenizedRow(i, prompt_ids, chosen_ids, rejected_ids, row.p_chosen))
    if trunc.prompts:
        log.warning(
            "%d prompt(s) were longer than max_prompt_length=%d tokens and were cut from the left",
            trunc.prompts,
            max_prompt_length,
        )
    if trunc.responses:
        log.warning("%d pair(s) had a response cut to fit max_length=%d tokens", trunc.responses, max_length)
    return out, trunc


# ---------------------------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------------------------


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, bucket: bool = True
) -> list[list[int]]:
    """The micro-batches (lists of pair indices) of one epoch, a deterministic function of ``(seed, epoch)``.

    With ``bucket``, pairs are shuffled, cut into windows of 16 batches, sorted by length inside each window and
    batched, and the batches are shuffled again: batches hold similar lengths (little padding) while the order
    stays random. Without it, batches are consecutive slices of the shuffled order.
    """
    rng = random.Random(f"dpo-batches:{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not bucket:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches
