"""label_dataset on the scripted mock: rules/hybrid sources, pairing, threshold, provenance, TRL columns, stats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import constitution_hash
from rlaif.constitution.schema import Constitution, Principle, Rule
from rlaif.errors import RlaifError
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset, principle_seed
from rlaif.feedback.pairs import make_pairs, rank_by_rules
from rlaif.feedback.responses import ResponseSet
from rlaif.prompting import TemplateSet

KIND = Principle(id="kind", compare="Which is kinder (Q-KIND)?", critique="c", revision="r")
SHORT = Principle(
    id="short",
    version=2,
    compare="Which is shorter (Q-SHORT)?",
    critique="c",
    revision="r",
    rule=Rule(max_words=3),
)
CONST = Constitution(name="test", principles=(KIND, SHORT))
SHORT_TEXT = "Hi there."
LONG_TEXT = "Hello, it is very nice to meet you today."


def rs(pid: str, *responses: str, conversation: tuple[ChatMessage, ...] | None = None) -> ResponseSet:
    conv = conversation or (ChatMessage("user", f"Greet me ({pid})."),)
    return ResponseSet(
        prompt=PromptRow(pid, conv),
        responses=responses,
        finish_reasons=("stop",) * len(responses),
        seed=1,
        policy_model="policy-x",
        policy_revision="rev1",
    )


def scripted_critic() -> MockBackend:
    """Under Q-KIND the critic prefers the LONG response at 0.8 in both orders; Q-SHORT prefers SHORT at 0.9."""
    m = MockBackend()
    for q, good in (("Q-KIND", LONG_TEXT), ("Q-SHORT", SHORT_TEXT)):
        first_is_good = rf"(?s)<response_a>\n{good}\n</response_a>.*\({q}\)"
        second_is_good = rf"(?s)<response_b>\n{good}\n</response_b>.*\({q}\)"
        p = 0.8 if q == "Q-KIND" else 0.9
        m.add_score(first_is_good, "A", math.log(p), regex=True).add_score(
            first_is_good, "B", math.log(1 - p), regex=True
        )
        m.add_score(second_is_good, "A", math.log(1 - p), regex=True).add_score(
            second_is_good, "B", math.log(p), regex=True
        )
    return m


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.load()


def test_critic_label_rows_and_provenance(templates: TemplateSet, tmp_path: Path) -> None:
    critic = scripted_critic()
    run = label_dataset(
        [rs("q1", SHORT_TEXT, LONG_TEXT)], CONST, critic, templates, LabelConfig(k=2, progress=False)
    )
    [row] = run.rows
    # p(A=SHORT ≻ B=LONG) = mean(kind: 0.2, short: 0.9) = 0.55 -> SHORT chosen with p 0.55
    assert row["p_chosen"] == pytest.approx(0.55)
    # conversational TRL format by default: the responses were generated under the chat template
    assert (row["prompt"], row["chosen"], row["rejected"]) == (
        [{"role": "user", "content": "Greet me (q1)."}],
        [{"role": "assistant", "content": SHORT_TEXT}],
        [{"role": "assistant", "content": LONG_TEXT}],
    )
    assert row["margin"] == pytest.approx(math.log(0.55 / 0.45))
    assert row["a_is_chosen"] is True and (row["index_chosen"], row["index_rejected"]) == (0, 1)
    assert row["pair_id"] == "q1:0-1" and row["prompt_id"] == "q1"
    assert row["constitution_hash"] == constitution_hash(CONST)
    assert sorted(row["principles"]) == ["kind@1", "short@2"]
    assert row["template_hash"] == templates.template_hash("compare")
    assert (row["critic_model"], row["critic_revision"]) == ("mock-char-lm", "1")
    assert row["seed"] == principle_seed(0, "q1:0-1")
    assert json.loads(row["params"])["k"] == 2 and json.loads(row["params"])["label_source"] == "critic"
    judgements = {j["principle"]: j for j in json.loads(row["judgements"])}
    assert judgements["kind@1"]["p_ab"] == pytest.approx(0.2) and judgements["kind@1"][
        "p_ba"
    ] == pytest.approx(0.2)
    assert judgements["short@2"]["consistent"] is True and judgements["short@2"]["source"] == "critic"
    assert judgements["short@2"]["rule"] == {"a_passed": True, "b_passed": False}
    assert row["order_consistent"] is True and row["decisive_principle"] == "short"
    assert (row["policy_model"], row["policy_revision"]) == ("policy-x", "rev1")
    rules = json.loads(row["rules"])
    assert rules == [
        {
            "principle": "short@2",
            "a_passed": True,
            "b_passed": False,
            "a_failures": [],
            "b_failures": [rules[0]["b_failures"][0]],
        }
    ]
    # the critic agreed with the one discriminating rule
    assert run.stats["rules"]["critic_agreement"] == {"compared": 1, "agree": 1, "rate": 1.0}
    assert (
        run.stats["critic"]["position_bias_rate"] == 0.0 and run.stats["critic"]["order_consistency"] == 1.0
    )
    # the typed view reads the same JSON and writes it back unchanged
    typed = run.label_stats
    assert (
        typed.rules.agreement_rate == 1.0
        and typed.critic is not None
        and typed.critic.order_consistency == 1.0
    )
    assert typed.to_json() == run.stats

    write_label_run(run, tmp_path / "labels")
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "labels" / "data.parquet"))["train"]
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert ds[0]["chosen"] == [{"role": "assistant", "content": SHORT_TEXT}]
    assert ds[0]["p_chosen"] == pytest.approx(0.55) and ds[0]["margin"] == pytest.approx(
        math.log(0.55 / 0.45)
    )
    card = (tmp_path / "labels" / "README.md").read_text()
    assert "Q-KIND" in card and constitution_hash(CONST) in card and "| rows kept | 1 |" in card
    assert json.loads((tmp_path / "labels" / "stats.json").read_text()) == run.stats


def test_rules_source_needs_no_critic(templates: TemplateSet) -> None:
    run = label_dataset(
        [rs("q1", LONG_TEXT, SHORT_TEXT), rs("q2", SHORT_TEXT, "Hey you.")],
        CONST,
        None,
        templates,
        LabelConfig(k=1, label_source="rules", progress=False, keep_ties=True, dataset_format="plain"),
    )
    first, second = run.rows
    assert first["chosen"] == SHORT_TEXT and first["p_chosen"] == 1.0 and first["a_is_chosen"] is False
    assert second["margin"] == 0.0 and first["margin"] == pytest.approx(math.log((1 - 1e-6) / 1e-6))
    assert first["critic_model"] == "" and first["template_hash"] == ""
    assert first["principles"] == ["short@2"]  # only principles with a rule are eligible
    assert second["p_chosen"] == 0.5  # both pass: the rule cannot tell them apart
    assert run.stats["critic"] is None and run.stats["rules"]["discriminating"] == 1
    # by default the tie is dropped from the hard-label dataset, listed and counted
    dropped = label_dataset(
        [rs("q1", LONG_TEXT, SHORT_TEXT), rs("q2", SHORT_TEXT, "Hey you.")],
        CONST,
        None,
        templates,
        LabelConfig(k=1, label_source="rules", progress=False),
    )
    assert [r["pair_id"] for r in dropped.rows] == ["q1:0-1"]
    assert dropped.stats["ties_dropped"] == 1 and dropped.stats["rows"] == 1
    assert [(u["pair_id"], u["status"]) for u in dropped.unlabeled] == [("q2:0-1", "tie")]


def test_rules_source_without_rules_fails_fast(templates: TemplateSet) -> None:
    only_kind = Constitution(name="k", principles=(KIND,))
    with pytest.raises(RlaifError, match="no principle with a rule"):
        label_dataset(
            [rs("q1", "a", "b")], only_kind, None, templates, LabelConfig(k=1, label_source="rules")
        )


def test_hybrid_rule_decides_where_it_discriminates(templates: TemplateSet) -> None:
    critic = scripted_critic()
    run = label_dataset(
        [rs("q1", SHORT_TEXT, LONG_TEXT)],
        CONST,
        critic,
        templates,
        LabelConfig(k=2, label_source="hybrid", progress=False),
    )
    [row] = run.rows
    # kind from the critic (0.2), short from its rule (1.0): p = 0.6
    assert row["p_chosen"] == pytest.approx(0.6)
    judgements = {j["principle"]: j for j in json.loads(row["judgements"])}
    assert judgements["short@2"]["source"] == "rule" and judgements["short@2"]["p_ab"] == 1.0
    assert judgements["short@2"]["critic_p_ab"] == pytest.approx(
        0.9
    )  # the critic's opinion is kept beside it
    assert judgements["kind@1"]["source"] == "critic"


def test_threshold_filters_and_lists(templates: TemplateSet) -> None:
    critic = scripted_critic()
    run = label_dataset(
        [rs("q1", SHORT_TEXT, LONG_TEXT)],
        CONST,
        critic,
        templates,
        LabelConfig(k=2, min_confidence=0.2, progress=False),
    )
    assert run.rows == []
    assert run.unlabeled == [
        {
            "pair_id": "q1:0-1",
            "prompt_id": "q1",
            "status": "filtered",
            "reason": "confidence 0.100 below min_confidence 0.2",
        }
    ]
    assert run.stats["filtered"] == 1 and run.stats["labeled"] == 1


def test_unlabeled_by_reason_and_file(templates: TemplateSet, tmp_path: Path) -> None:
    critic = scripted_critic()
    critic.add_garbage("JUNK")
    run = label_dataset(
        [rs("q1", SHORT_TEXT, LONG_TEXT), rs("q2", "JUNK", LONG_TEXT), rs("q3", "same", "same")],
        CONST,
        critic,
        templates,
        LabelConfig(k=1, progress=False),
    )
    assert [r["pair_id"] for r in run.rows] == ["q1:0-1"]
    assert run.stats["unlabeled_by_reason"] == {
        "critic returned non-finite log-probabilities": 1,
        "the two responses are identical": 1,
    }
    write_label_run(run, tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "unlabeled.jsonl").read_text().splitlines()]
    assert {x["pair_id"] for x in lines} == {"q2:0-1", "q3:0-1"}


def test_conversational_format_when_any_prompt_is_multi_turn(templates: TemplateSet) -> None:
    critic = scripted_critic()
    chat = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"))
    run = label_dataset(
        [rs("q1", SHORT_TEXT, LONG_TEXT), rs("q2", SHORT_TEXT, LONG_TEXT, conversation=chat)],
        CONST,
        critic,
        templates,
        LabelConfig(k=1, progress=False),
    )
    for row in run.rows:
        assert isinstance(row["prompt"], list) and row["chosen"][0]["role"] == "assistant"
    assert run.rows[1]["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert run.stats["format"] == "conversational"


def test_pairing_modes() -> None:
    sets = [rs("q", "one two three four", "a", "b c", "a")]
    first, _ = make_pairs(sets, "first_two")
    assert [p.pair_id for p in first] == ["q:0-1"]
    allp, skipped = make_pairs(sets, "all_pairs")
    assert [p.pair_id for p in allp] == ["q:0-1", "q:0-2", "q:0-3", "q:1-2", "q:2-3"]
    assert [(s.pair_id, s.reason) for s in skipped] == [("q:1-3", "the two responses are identical")]
    # rule passes: max_words=3 -> [0, 1, 1, 1]; best = lowest index among the top (1), worst = 0
    ranking = rank_by_rules(sets, [SHORT])
    assert ranking == {"q": [0.0, 1.0, 1.0, 1.0]}
    bw, _ = make_pairs(sets, "best_worst", rankings=ranking)
    assert [(p.pair_id, p.response_a, p.response_b) for p in bw] == [("q:1-0", "a", "one two three four")]
    few, skipped = make_pairs([rs("solo", "x")], "first_two")
    assert few == [] and "only 1 response" in skipped[0].reason


def test_best_worst_by_critic_uses_expected_scores(templates: TemplateSet) -> None:
    critic = MockBackend()
    for text, best in (("GOOD", "9]]"), ("BAD", "2]]")):
        pattern = rf"(?s)<response>\n{text}\n</response>"
        for choice in [f"{i}]]" for i in range(1, 11)]:
            critic.add_score(pattern, choice, 0.0 if choice == best else -50.0, regex=True)
    run = label_dataset(
        [rs("q", "BAD", "GOOD", "MEH")],
        Constitution(name="k", principles=(KIND,)),
        critic,
        templates,
        LabelConfig(k=1, pairing="best_worst", progress=False, keep_ties=True),
    )
    assert {run.rows[0]["index_chosen"], run.rows[0]["index_rejected"]} == {0, 1}
    assert run.stats["pairs"] == 1


def test_editing_one_principle_recomputes_only_its_calls(templates: TemplateSet, tmp_path: Path) -> None:
    sets = [rs(f"q{i}", SHORT_TEXT, LONG_TEXT) for i in range(12)]
    cache = CallCache(tmp_path / "c.sqlite")
    critic = CachedBackend(scripted_critic(), cache)
    config = LabelConfig(k=1, progress=False)
    first = label_dataset(sets, CONST, critic, templates, config)
    assert (cache.hits, cache.misses) == (0, 24)
    edited = Constitution(
        name="test", principles=(KIND.model_copy(update={"compare": "Which is gentler (Q-KIND)?"}), SHORT)
    )
    cache.hits = cache.misses = 0
    second = label_dataset(sets, edited, critic, templates, config)
    used_kind = sum(r["principles"] == ["kind@1"] for r in first.rows)
    assert 0 < used_kind < 12  # the draw is the same: it does not depend on the text
    assert [r["principles"] for r in second.rows] == [r["principles"] for r in first.rows]
    assert (cache.hits, cache.misses) == (2 * (12 - used_kind), 2 * used_kind)


def test_hub_push_fails_fast_when_offline(templates: TemplateSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    critic = MockBackend()
    with pytest.raises(RlaifError, match="HF_HUB_OFFLINE"):
        label_dataset(
            [rs("q", "a", "b")], CONST, critic, templates, LabelConfig(k=1, push_to_hub="me/labels")
        )
    assert critic.calls == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(RlaifError, match="unreachable"):
        label_dataset(
            [rs("q", "a", "b")], CONST, critic, templates, LabelConfig(k=1, push_to_hub="me/labels")
        )
    assert critic.calls == []
