"""``rlaif render``: print exactly what the critic model would see for one template, principle and example.

    rlaif render compare --constitution principles/hhh.yaml --principle honesty \\
        --example data/examples/render_example.yaml --model smollm2

The text is printed between visible markers (so leading and trailing whitespace can be seen), followed by the
continuations that are scored after it, the template hash and the principle id@version that a label made from this
prompt would record.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field

from rlaif.cli._common import TemplatesOpt
from rlaif.constitution import load_constitution
from rlaif.constitution.schema import ChatTurn, Constitution, Principle
from rlaif.errors import DataFileError, RlaifError, TemplateError
from rlaif.prompting import CriticPrompt, TemplateSet, render_for_critic
from rlaif.prompting.templates import TEMPLATE_SUFFIX
from rlaif.strict import StrictConfig
from rlaif.yamlfile import load_yaml_model

BEGIN = "⟪BEGIN⟫"
END = "⟪END⟫"


class Order(StrEnum):
    """Which response is shown first in a pairwise template."""

    ab = "ab"
    ba = "ba"


class RenderExample(StrictConfig):
    """An example file for ``rlaif render``: a conversation and the responses the templates need."""

    description: str = Field(default="", description="What this example shows.")
    conversation: tuple[ChatTurn, ...] = Field(min_length=1, description="The conversation so far.")
    response_a: str | None = Field(default=None, description="First response of a pair (compare templates).")
    response_b: str | None = Field(default=None, description="Second response of a pair (compare templates).")
    response: str | None = Field(
        default=None, description="One response (critique, revise, score, rm_input)."
    )
    critique: str | None = Field(default=None, description="A critique of `response` (revise).")


_EXAMPLE_FIELDS = ("conversation", "response_a", "response_b", "response", "critique")


def _default_file(kind: str, relative: str, option: str) -> Path:
    from rlaif.resources import shipped_dir

    try:
        path = shipped_dir(kind) / relative  # type: ignore[arg-type]
    except RlaifError:
        path = None
    if path is None or not path.is_file():
        raise RlaifError(
            f"no {option} given and the shipped default ({relative}) is missing", hint=f"pass {option}"
        )
    return path


def _templates_and_name(template: str, templates_dir: Path | None) -> tuple[TemplateSet, str]:
    """A template is named (``compare``, ``compare.j2``) or given as a path to a file."""
    as_path = Path(template)
    looks_like_path = template.endswith(TEMPLATE_SUFFIX) or "/" in template or as_path.is_absolute()
    if looks_like_path and as_path.exists():
        if as_path.is_dir():
            raise TemplateError("is a directory, not a template file", path=as_path, hint="name a .j2 file")
        return TemplateSet.load(as_path.parent), as_path.name
    templates = TemplateSet.load(templates_dir)
    name = templates.resolve(template)
    templates.path(name)  # not found → a TemplateError listing where it looked
    return templates, name


def _pick_principles(constitution: Constitution, ids: list[str], path: Path) -> list[Principle]:
    out: list[Principle] = []
    known = [p.id for p in constitution.principles]
    for pid in ids:
        try:
            out.append(constitution.get(pid))
        except KeyError:
            raise DataFileError(
                f"no principle '{pid}' in constitution '{constitution.name}'",
                path=path,
                hint=f"principle ids: {', '.join(known)}",
            ) from None
    return out


def _token_report(tokenizer: Any, prompt: CriticPrompt) -> list[str]:
    """Prompt length in tokens, and each choice's tokens, checking that it tokenizes the same after the prompt."""
    prompt_ids = tokenizer(prompt.text, add_special_tokens=False)["input_ids"]
    lines = [f"prompt tokens: {len(prompt_ids)}"]
    for choice in prompt.choices or ():
        alone = tokenizer(choice, add_special_tokens=False)["input_ids"]
        joint = tokenizer(prompt.text + choice, add_special_tokens=False)["input_ids"]
        clean = joint[: len(prompt_ids)] == prompt_ids and joint[len(prompt_ids) :] == alone
        pieces = tokenizer.convert_ids_to_tokens(alone)
        note = "" if clean else "  (WARNING: tokenizes differently after the prompt; the boundary merges)"
        lines.append(f"  choice {choice!r}: {len(alone)} token(s) {pieces}{note}")
    return lines


_FORMATTING_TEXT = {
    "chat_template": "the model's chat template (user turn + assistant generation prompt)",
    "backend": "the backend's chat formatting",
    "fallback": 'the plain fallback ("User: ..." then "Assistant:"), no chat template',
    "plain": "plain text: the template sets chat = false (no chat formatting)",
}


def command(
    template: Annotated[
        str, typer.Argument(help="Template name (compare, critique, revise, score, ...) or a .j2 file.")
    ],
    constitution: Annotated[
        Path | None,
        typer.Option(
            "--constitution", "-c", help="Constitution YAML [default: the shipped principles/hhh.yaml]."
        ),
    ] = None,
    principle: Annotated[
        list[str] | None,
        typer.Option(
            "--principle",
            "-p",
            help="Principle id. rm_input takes several (repeat the option; default: all).",
        ),
    ] = None,
    example: Annotated[
        Path | None,
        typer.Option(
            "--example", "-e", help="Example YAML [default: the shipped data/examples/render_example.yaml]."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Format with this model's chat template (alias, hub id or folder)."
        ),
    ] = None,
    no_chat_template: Annotated[
        bool,
        typer.Option("--no-chat-template", help="Use the plain fallback even when --model has a template."),
    ] = False,
    templates_dir: TemplatesOpt = None,
    order: Annotated[
        Order, typer.Option("--order", help="Pairwise order: ab, or ba (responses swapped).")
    ] = Order.ab,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Print exactly what the critic would see for a template, a principle and an example conversation."""
    templates, name = _templates_and_name(template, templates_dir)
    needed = templates.variables(name)

    constitution_path = constitution or _default_file("principles", "hhh.yaml", "--constitution")
    example_path = example or _default_file("data", "examples/render_example.yaml", "--example")
    loaded = load_constitution(constitution_path)
    sample: RenderExample = load_yaml_model(example_path, RenderExample, what="example")

    variables: dict[str, Any] = {}
    for key in _EXAMPLE_FIELDS:
        value = getattr(sample, key)
        if key in needed and value is None:
            raise DataFileError(
                f"template {name} needs '{key}', which this example does not have",
                path=example_path,
                field=key,
                hint="add it to the example file, or pick another example",
            )
        if value is not None:
            variables[key] = value
    pairwise = {"response_a", "response_b"} <= needed
    if order is Order.ba:
        if pairwise:
            variables["response_a"], variables["response_b"] = (
                variables["response_b"],
                variables["response_a"],
            )
        else:
            print(
                f"warning: --order ba has no effect: {name} does not show a pair of responses",
                file=sys.stderr,
            )

    ids = list(principle or [])
    used: list[Principle] = []
    if "principle" in needed:
        if len(ids) > 1:
            raise RlaifError(
                f"{name} takes one principle, {len(ids)} were given", hint="give --principle once"
            )
        if not ids:
            if len(loaded.principles) != 1:
                raise RlaifError(
                    f"{name} needs a principle: pass --principle",
                    hint=f"principle ids in {constitution_path}: {', '.join(p.id for p in loaded.principles)}",
                )
            ids = [loaded.principles[0].id]
        used = _pick_principles(loaded, ids, constitution_path)
        variables["principle"] = used[0]
    if "principles" in needed:
        used = _pick_principles(loaded, ids, constitution_path) if ids else list(loaded.principles)
        variables["principles"] = used

    tokenizer = None
    if model is not None:
        from rlaif.models import load_tokenizer

        tokenizer = load_tokenizer(model)
    formatter = None if no_chat_template else tokenizer
    prompt = render_for_critic(templates, name, formatter, **variables)

    principle_ids = [f"{p.id}@{p.version}" for p in used]
    if as_json:
        record = {
            "template": name,
            "template_path": str(templates.path(name)),
            "template_hash": prompt.template_hash,
            "principles": principle_ids,
            "constitution": {"name": loaded.name, "version": loaded.version, "path": str(constitution_path)},
            "example": str(example_path),
            "order": order.value if pairwise else None,
            "model": model,
            "formatting": prompt.formatting,
            "text": prompt.text,
            "answer_prefix": prompt.answer_prefix,
            "reasoning_prefix": prompt.rendered.reasoning_prefix,
            "choices": list(prompt.choices) if prompt.choices is not None else None,
        }
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return

    lines = [
        f"template:      {name}  ({templates.path(name)})",
        f"template hash: {prompt.template_hash}",
        f"principle:     {', '.join(principle_ids) or '(none)'}  "
        f"(constitution '{loaded.name}' version {loaded.version}, {constitution_path})",
        f"example:       {example_path}",
    ]
    if pairwise:
        shown = "as given" if order is Order.ab else "swapped: the example's response_b is shown as A"
        lines.append(f"order:         {order.value} ({shown})")
    how = _FORMATTING_TEXT[prompt.formatting]
    if model is None and prompt.formatting == "fallback":
        how += "; no --model given"
    elif model is not None:
        how += f"; model {model}"
    lines.append(f"formatting:    {how}")
    if tokenizer is not None:
        lines.extend(_token_report(tokenizer, prompt))
    lines.append(f"----- exactly what the critic sees, between {BEGIN} and {END} -----")
    lines.append(f"{BEGIN}{prompt.text}{END}")
    if prompt.needs_reasoning:
        lines.append(
            f"then: the critic generates its reasoning at {END}; {prompt.answer_prefix!r} is appended after it, "
            f"and the continuations {' | '.join(repr(c) for c in prompt.choices or ())} are scored"
        )
    elif prompt.choices is not None:
        lines.append(f"scored continuations at {END}: {' | '.join(repr(c) for c in prompt.choices)}")
    elif prompt.formatting == "plain":
        lines.append(f"(model input as is; nothing is generated or scored at {END})")
    else:
        lines.append(f"the critic generates its reply at {END} (nothing scored)")
    sys.stdout.write("\n".join(lines) + "\n")
