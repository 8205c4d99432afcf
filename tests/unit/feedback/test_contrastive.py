"""Contrastive (RLCD) pairs: system prompts, same seed both sides, labels by construction and rescored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution.loading import load_constitution_text
from rlaif.errors import RlaifError
from rlaif.feedback.contrastive import (
    ContrastConfig,
    contrastive_label_run,
    generate_contrastive,
    instruction,
    system_prompts,
    write_contrast_run,
)
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.responses import GenerateConfig, prompt_seed, read_responses, write_responses
from rlaif.prompting import TemplateSet

CONSTITUTION = """
name: t
principles:
  - id: brief
    compare: Which response is shorter?
    critique: c
    revision: r
    contrast: {positive: Be brief., negative: Be very long.}
  - id: calm
    compare: Which response is calmer?
    negation: Which response is more agitated?
    critique: c
    revision: r
"""


def _prompts() -> list[PromptRow]:
    return [PromptRow(f"p{i}", (ChatMessage("user", f"question {i}"),)) for i in range(3)]


def _mock() -> MockBackend:
    mock = MockBackend()
    mock.add_response("Be brief.", "Short answer.")
    mock.add_response("Be very long.", "A long, long, long answer that goes on.")
    return mock


def test_instruction_uses_contrast_pair_else_compare_and_negation() -> None:
    c = load_constitution_text(CONSTITUTION)
    assert instruction(c.get("brief"), "positive") == "Be brief."
    assert instruction(c.get("brief"), "negative") == "Be very long."
    assert instruction(c.get("calm"), "positive").endswith("Which response is calmer?")
    assert instruction(c.get("calm"), "negative").endswith("Which response is more agitated?")


def test_system_prompts_render_both_templates() -> None:
    c = load_constitution_text(CONSTITUTION)
    pos, neg, th = system_prompts([c.get("brief")], TemplateSet.load())
    assert pos == "You are a helpful assistant. Be brief."
    assert neg == "You are a helpful assistant. Be very long."
    assert len(th) == 128


def test_generate_contrastive_same_seed_both_sides_and_no_system_prompt_kept(tmp_path: Path) -> None:
    c = load_constitution_text(CONSTITUTION)
    mock = _mock()
    gen = GenerateConfig(n=1, max_new_tokens=64, seed=7, progress=False)
    sets = generate_contrastive(mock, _prompts(), c, TemplateSet.load(), gen, ContrastConfig(k=1, seed=3))
    assert len(sets) == 3
    reqs = mock.generate_requests
    assert len(reqs) == 6
    for i in range(3):
        pos, neg = reqs[2 * i], reqs[2 * i + 1]
        assert pos.params.seed == neg.params.seed == prompt_seed(7, f"p{i}")
        assert pos.prompt[0].role == "system" and neg.prompt[0].role == "system"
        assert pos.prompt[1:] == neg.prompt[1:] == _prompts()[i].conversation
    s = sets[0]
    assert all(m.role != "system" for m in s.prompt.conversation)
    meta = s.params["contrastive"]
    assert meta["sides"] == ["positive", "negative"]
    assert len(meta["principles"]) == 1
    # the responses dataset round-trips the provenance
    back = read_responses(write_responses(tmp_path / "r", sets).parent)
    assert back[0].params["contrastive"]["principles"] == meta["principles"]


def test_label_by_construction_records_principles_and_sides(tmp_path: Path) -> None:
    c = load_constitution_text(CONSTITUTION)
    gen = GenerateConfig(n=1, max_new_tokens=64, progress=False)
    cfg = ContrastConfig(k=2, p_chosen=0.9)
    sets = generate_contrastive(_mock(), _prompts(), c, TemplateSet.load(), gen, cfg)
    run = contrastive_label_run(sets, c, cfg)
    assert run.stats["rows"] == 3 and run.stats["dropped"] == 0
    row = run.rows[0]
    assert row["chosen"] == "Short answer."
    assert row["rejected"] == "A long, long, long answer that goes on."
    assert row["prompt"] == "question 0"  # plain: no system prompt in the training prompt
    assert row["p_chosen"] == 0.9
    assert row["side_chosen"] == "positive" and row["side_rejected"] == "negative"
    assert sorted(row["principles"]) == ["brief@1", "calm@1"]
    assert "Be brief." in row["system_chosen"] and "Be very long." in row["system_rejected"]
    path = write_contrast_run(run, tmp_path / "labels")
    table = pq.read_table(path)
    assert table.num_rows == 3
    assert json.loads((tmp_path / "labels" / "stats.json").read_text())["mean_p_chosen"] == 0.9


def test_identical_answers_are_dropped() -> None:
    c = load_constitution_text(CONSTITUTION)
    mock = MockBackend()
    mock.add_response("helpful assistant", "Same.")
    sets = generate_contrastive(
        mock, _prompts(), c, TemplateSet.load(), GenerateConfig(n=1, progress=False), ContrastConfig(k=1)
    )
    run = contrastive_label_run(sets, c, ContrastConfig(k=1))
    assert run.stats["rows"] == 0 and run.stats["dropped"] == 3
    assert run.dropped[0]["reason"] == "identical answers"


def test_critic_rescoring_weights_and_drops() -> None:
    c = load_constitution_text(CONSTITUTION)
    gen = GenerateConfig(n=1, max_new_tokens=64, progress=False)
    sets = generate_contrastive(_mock(), _prompts(), c, TemplateSet.load(), gen, ContrastConfig(k=1))
    critic = MockBackend()
    # p(positive ≻ negative) per prompt: agrees (0.9), reverses with confidence (0.1), reverses mildly (0.4)
    for i, p in enumerate((0.9, 0.1, 0.4)):
        pos_a = rf"(?s)question {i}\n.*<response_a>\nShort answer\.\n</response_a>"
        pos_b = rf"(?s)question {i}\n.*<response_b>\nShort answer\.\n</response_b>"
        critic.add_score(pos_a, "A", math.log(p), regex=True).add_score(
            pos_a, "B", math.log(1 - p), regex=True
        )
        critic.add_score(pos_b, "A", math.log(1 - p), regex=True).add_score(
            pos_b, "B", math.log(p), regex=True
        )
    cfg = ContrastConfig(k=1, label_source="contrastive+critic", drop_below=0.3)
    run = contrastive_label_run(sets, c, cfg, critic=critic, templates=TemplateSet.load())
    assert [r["prompt_id"] for r in run.rows] == ["p0", "p2"]
    assert run.rows[0]["p_chosen"] == pytest.approx(0.9)
    assert run.rows[1]["p_chosen"] == 0.5  # a mild reversal keeps the pair with no preference
    assert run.dropped[0]["prompt_id"] == "p1" and run.dropped[0]["reason"].startswith("critic reversed")
    assert run.rows[0]["critic_model"] == critic.model_id


def test_critic_source_without_critic_is_an_error() -> None:
    c = load_constitution_text(CONSTITUTION)
    with pytest.raises(RlaifError, match="needs a critic"):
        contrastive_label_run([], c, ContrastConfig(label_source="contrastive+critic"))


def test_config_checks() -> None:
    with pytest.raises(RlaifError, match="p_chosen"):
        ContrastConfig(p_chosen=0.5)
    with pytest.raises(RlaifError, match="label source"):
        ContrastConfig(label_source="critic")  # type: ignore[arg-type]


def test_logratio_selects_best_positive_against_worst_negative() -> None:
    c = load_constitution_text(CONSTITUTION)
    mock = MockBackend()
    mock.add_response("Be brief.", ["Short one.", "Short two, a bit longer."])
    mock.add_response(
        "Be very long.", ["Long answer number one here.", "Long answer number two, longer still."]
    )
    gen = GenerateConfig(n=2, max_new_tokens=64, progress=False)
    cfg = ContrastConfig(k=1, select="logratio")
    sets = generate_contrastive(mock, _prompts()[:1], c, TemplateSet.load(), gen, cfg)
    meta = sets[0].params["contrastive"]
    lr = meta["logratio"]
    assert len(lr) == 4 and meta["sides"] == ["positive", "positive", "negative", "negative"]
    assert len(mock.score_requests) == 2  # one per side, each scoring all four answers
    run = contrastive_label_run(sets, c, cfg)
    assert len(run.rows) == 1
    row = run.rows[0]
    best = max(range(2), key=lambda i: (lr[i], -i))
    worst = min(range(2, 4), key=lambda i: (lr[i], i))
    assert (row["index_chosen"], row["index_rejected"]) == (best, worst)
    assert row["logratio_chosen"] == lr[best] and row["logratio_rejected"] == lr[worst]
    # paired selection on the same answers: two pairs, sample j against sample j
    paired = contrastive_label_run(sets, c, ContrastConfig(k=1))
    assert [(r["index_chosen"], r["index_rejected"]) for r in paired.rows] == [(0, 2), (1, 3)]


def test_measure_ceiling_grades_each_condition_by_the_rules() -> None:
    from rlaif.feedback.contrastive import measure_ceiling

    c = load_constitution_text(
        CONSTITUTION.replace(
            "    contrast: {positive: Be brief., negative: Be very long.}",
            "    contrast: {positive: Be brief., negative: Be very long.}\n    rule: {max_words: 3}",
        )
    )
    mock = _mock()
    mock.add_response("question", "An answer that is too long for the rule.")  # no system prompt
    gen = GenerateConfig(n=1, max_new_tokens=64, temperature=0.0, progress=False)
    out = measure_ceiling(mock, _prompts(), c, TemplateSet.load(), gen, ("none", "positive", "negative"))
    assert out["n"] == 3
    assert out["positive"]["compliance"]["brief"]["value"] == 1.0  # "Short answer." has 2 words
    assert out["none"]["compliance"]["brief"]["value"] == 0.0
    assert out["negative"]["compliance"]["all"]["value"] == 0.0
    assert out["positive"]["mean_words"] == 2.0 and out["positive"]["cut"] == 0.0
    with pytest.raises(RlaifError, match="unknown condition"):
        measure_ceiling(mock, _prompts(), c, TemplateSet.load(), gen, ("sideways",))
