"""Rendering the shipped templates: content, order, metadata and the shared-prefix rule."""

from __future__ import annotations

from typing import Any

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import ChatTurn
from rlaif.prompting import TEMPLATE_VARIABLES, TemplateSet
from rlaif.prompting.templates import SCORED_TEMPLATES


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


def _common_prefix(a: str, b: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:n]


def _in_order(text: str, *parts: str) -> list[int]:
    positions = [text.index(p) for p in parts]
    assert positions == sorted(positions), f"out of order: {list(zip(parts, positions, strict=True))}"
    return positions


def test_every_shipped_template_is_documented_and_renders(templates: TemplateSet, s: Any) -> None:
    public = [n for n in templates.names() if not n.startswith("_")]
    assert sorted(public) == sorted(TEMPLATE_VARIABLES)
    for name in public:
        rendered = templates.render(name, **s.variables())
        assert rendered.template_name == name
        assert len(rendered.template_hash) == 64
        assert templates.variables(name) == TEMPLATE_VARIABLES[name], name
        # the chat template closes the turn: no stray whitespace at either end
        assert rendered.text == rendered.text.strip(), name


def test_compare_layout_and_metadata(templates: TemplateSet, s: Any) -> None:
    r = templates.render("compare", **s.variables())
    assert r.template_name == "compare.j2"
    assert r.answer_prefix == "Answer: ("
    assert r.choices == ("A", "B")
    assert r.reasoning_prefix is None and r.chat is True
    _in_order(
        r.text,
        "<conversation>",
        "<system>\nYou are a careful assistant.\n</system>",
        "<user>\nHow many moons does Neptune have?\n</user>",
        "</conversation>",
        f"<response_a>\n{s.RESPONSE_A}\n</response_a>",
        f"<response_b>\n{s.RESPONSE_B}\n</response_b>",
        f"Question: {s.HONESTY.compare}",
        "(A) or (B)",
    )


def test_principles_share_one_prefix_holding_both_responses(templates: TemplateSet, s: Any) -> None:
    honesty = templates.render("compare", **s.variables(principle=s.HONESTY)).text
    concise = templates.render("compare", **s.variables(principle=s.CONCISE)).text
    prefix = _common_prefix(honesty, concise)
    assert s.RESPONSE_A in prefix and s.RESPONSE_B in prefix
    assert prefix.endswith("</response_b>\n\nQuestion: Which response ")
    # only the tail differs, and it starts after both responses
    assert honesty.index(s.HONESTY.compare) > honesty.index("</response_b>")
    assert concise.index(s.CONCISE.compare) > concise.index("</response_b>")


def test_chain_of_thought_variant_shares_the_prefix(templates: TemplateSet, s: Any) -> None:
    direct = templates.render("compare", **s.variables()).text
    cot = templates.render("compare_cot", **s.variables())
    shared = _common_prefix(direct, cot.text)
    assert shared.endswith(f"Question: {s.HONESTY.compare}\n")
    assert cot.reasoning_prefix == "Let's think step by step."
    assert cot.answer_prefix == "\nTherefore, the better response is ("
    assert cot.choices == ("A", "B")


def test_both_orders_share_the_conversation(templates: TemplateSet, s: Any) -> None:
    ab = templates.render("compare", **s.variables()).text
    ba = templates.render("compare", **s.variables(response_a=s.RESPONSE_B, response_b=s.RESPONSE_A)).text
    shared = _common_prefix(ab, ba)
    assert "</conversation>\n\n<response_a>\n" in shared
    assert s.RESPONSE_A not in shared and s.RESPONSE_B not in shared
    assert ba.index(s.RESPONSE_B) < ba.index(s.RESPONSE_A)


def test_generation_templates(templates: TemplateSet, s: Any) -> None:
    critique = templates.render("critique", **s.variables())
    assert critique.answer_prefix is None and critique.choices is None
    _in_order(
        critique.text, "</conversation>", f"<response>\n{s.RESPONSE_B}\n</response>", s.HONESTY.critique
    )
    revise = templates.render("revise", **s.variables())
    _in_order(
        revise.text,
        "</conversation>",
        s.RESPONSE_B,
        f"<critique>\n{s.CRITIQUE}\n</critique>",
        s.HONESTY.revision,
    )


def test_score_choices_are_prefix_free(templates: TemplateSet, s: Any) -> None:
    r = templates.render("score", **s.variables())
    assert r.answer_prefix == "Score: [["
    assert r.choices == tuple(f"{n}]]" for n in range(1, 11))
    assert not any(a != b and b.startswith(a) for a in r.choices for b in r.choices)


def test_rm_input_lists_principles_first_and_is_plain_text(templates: TemplateSet, s: Any) -> None:
    r = templates.render("rm_input", **s.variables())
    assert r.chat is False and r.choices is None
    _in_order(
        r.text,
        f"- honesty: {s.HONESTY.compare}",
        f"- concise: {s.CONCISE.compare}",
        "<conversation>",
        f"<response>\n{s.RESPONSE_B}\n</response>",
    )
    assert r.text.endswith("</response>")


def test_conversation_forms(templates: TemplateSet, s: Any) -> None:
    """Dicts, ChatMessage, the constitution's ChatTurn and a plain string render the same."""
    base = s.variables()
    msgs = [("system", "You are a careful assistant."), ("user", "How many moons does Neptune have?")]
    as_dicts = templates.render("compare", **base).text
    as_messages = templates.render(
        "compare",
        **{**base, "conversation": [ChatMessage(role=r, content=c) for r, c in msgs]},  # type: ignore[arg-type]
    ).text
    as_turns = templates.render(
        "compare",
        **{**base, "conversation": tuple(ChatTurn(role=r, content=c) for r, c in msgs)},  # type: ignore[arg-type]
    ).text
    assert as_dicts == as_messages == as_turns
    plain = templates.render("compare", **{**base, "conversation": "Hello?"}).text
    assert "<conversation>\n<user>\nHello?\n</user>\n</conversation>" in plain


def test_principle_as_mapping(templates: TemplateSet, s: Any) -> None:
    as_model = templates.render("compare", **s.variables()).text
    as_dict = templates.render("compare", **s.variables(principle=s.HONESTY.model_dump())).text
    assert as_model == as_dict


def test_scored_templates_declare_choices(templates: TemplateSet, s: Any) -> None:
    for name in SCORED_TEMPLATES:
        meta = templates.metadata(name)
        assert meta.answer_prefix and meta.choices, name
