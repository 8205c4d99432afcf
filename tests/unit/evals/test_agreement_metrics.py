"""Agreement metrics on scripted critics whose numbers are worked out by hand.

Every critic here is the mock backend with score rules on the rendered compare prompt: the prompt shows the
first response inside ``<response_a>`` and ends with the principle's question, so a rule can look at which response
is shown first and under which principle. Chosen responses start with "GOOD", rejected ones with "BAD".
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution.schema import Constitution, Principle, Rule
from rlaif.errors import DataFileError, RlaifError
from rlaif.evals.agreement import (
    AgreementConfig,
    AgreementReport,
    chosen_first_assignment,
    evaluate_agreement,
    pair_rows,
    reliability_table,
    write_report,
)
from rlaif.evals.agreement_render import markdown
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.inputs import PreferencePair
from rlaif.prompting import TemplateSet
from rlaif.stats import wilson_ci

X_TEXT = "Which response is more xenial?"
Y_TEXT = "Which response is more yare?"


def _principle(pid: str, compare: str, rule: Rule | None = None) -> Principle:
    return Principle(id=pid, compare=compare, critique="Critique it.", revision="Revise it.", rule=rule)


X = _principle("xenial", X_TEXT)
Y = _principle("yare", Y_TEXT)
CONSTITUTION = Constitution(name="xy", principles=(X, Y))


def pairs(n: int) -> list[PreferencePair]:
    return [
        PreferencePair(
            id=f"pair-{i:02d}",
            conversation=(ChatMessage("user", f"Question number {i}?"),),
            chosen=f"GOOD answer {i}.",
            rejected=f"BAD answer {i}.",
        )
        for i in range(n)
    ]


def always_first(mock: MockBackend, pattern: str = "", p_ab: float = 0.8) -> MockBackend:
    """The critic answers "A" (the first-shown response) with probability p_ab whatever it reads."""
    mock.add_score(pattern, "A", math.log(p_ab), regex=True)
    mock.add_score(pattern, "B", math.log(1 - p_ab), regex=True)
    return mock


def perfect(mock: MockBackend, principle_text: str = "", p_good: float = 0.9) -> MockBackend:
    """The critic gives the GOOD response probability p_good in both orders (under prompts naming principle_text)."""
    tail = f".*{principle_text}" if principle_text else ""
    a_good = rf"(?s)<response_a>\nGOOD{tail}"
    b_good = rf"(?s)<response_b>\nGOOD{tail}"
    mock.add_score(a_good, "A", math.log(p_good), regex=True).add_score(
        a_good, "B", math.log(1 - p_good), regex=True
    )
    mock.add_score(b_good, "A", math.log(1 - p_good), regex=True).add_score(
        b_good, "B", math.log(p_good), regex=True
    )
    return mock


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


def run(
    critic: MockBackend,
    templates: TemplateSet,
    n: int = 20,
    constitution: Constitution = CONSTITUTION,
    **config: object,
) -> AgreementReport:
    cfg = AgreementConfig(**{"all_principles": True, "bootstrap_resamples": 500, **config})  # type: ignore[arg-type]
    return evaluate_agreement(critic, templates, pairs(n), constitution, cfg, progress=False)


# ------------------------------------------------------------------------------------------------------------
# which response is shown first


def test_chosen_first_is_balanced_seeded_and_keyed_by_id() -> None:
    ids = [f"id-{i}" for i in range(21)]
    a = chosen_first_assignment(ids, seed=0)
    assert sum(a) == 11  # ceil(21 / 2): alternate in seeded-hash rank order
    assert a == chosen_first_assignment(ids, seed=0)
    assert a != chosen_first_assignment(ids, seed=1)
    # a pair keeps its position when the file is reordered
    shuffled = ids[::-1]
    b = chosen_first_assignment(shuffled, seed=0)
    assert dict(zip(shuffled, b, strict=True)) == dict(zip(ids, a, strict=True))


def test_the_critic_sees_the_chosen_response_first_in_half_the_pairs(templates: TemplateSet) -> None:
    mock = always_first(MockBackend())
    report = run(mock, templates, n=20)
    shown = [r.chosen_first for r in report.pairs]
    assert sum(shown) == 10
    # order ab of each pair (its first prompt under X): <response_a> holds the chosen response iff chosen_first
    for i, r in enumerate(report.pairs):
        first_ab = next(
            q.prompt
            for q in mock.score_requests
            if f"Question number {i}?" in q.prompt and X_TEXT in q.prompt
        )
        assert ("<response_a>\nGOOD" in first_ab) is r.chosen_first


def test_one_score_call_for_every_pair_principle_and_order(templates: TemplateSet) -> None:
    mock = always_first(MockBackend())
    run(mock, templates, n=6)
    assert [c.kind for c in mock.calls] == ["score"]
    assert len(mock.score_requests) == 6 * 2 * 2  # pairs × principles × orders


# ------------------------------------------------------------------------------------------------------------
# scripted critics, numbers worked out by hand


def test_always_first_critic_is_chance_with_full_position_bias(templates: TemplateSet) -> None:
    # p_ab = 0.8 and p_ba = 0.2 for every judgement: the debiased label is exactly 0.5, a tie, for every pair.
    report = run(always_first(MockBackend()), templates, n=20)
    assert report.n_labeled == 20 and report.ties == 20
    assert report.accuracy is not None and report.single_order_accuracy is not None
    # Wilson over 20 pairs: a tie on every pair is half right on every pair, not a certainty about 50%
    w = wilson_ci(10, 20)
    assert report.accuracy.value == 0.5 and (report.accuracy.low, report.accuracy.high) == (w.low, w.high)
    # order ab alone: right exactly when the chosen response was shown first, i.e. on the 10 of 20 pairs
    assert report.single_order_accuracy.value == 0.5
    assert report.single_order_accuracy.low < 0.4 and report.single_order_accuracy.high > 0.6
    assert report.position_bias is not None and report.position_bias.value == 1.0
    assert report.position_bias.n == 40  # judgements: 20 pairs × 2 principles
    assert report.position_bias_first == 1.0
    assert report.order_consistency is not None and report.order_consistency.value == 0.0
    assert report.pair_order_consistency is not None and report.pair_order_consistency.value == 0.0
    # a critic that says 0.5 to everything is calibrated (ECE 0) but uninformative (Brier 0.25)
    assert report.brier is not None and report.brier.value == pytest.approx(0.25)
    assert report.ece is not None and report.ece.value == pytest.approx(0.0)
    for p in report.per_principle:
        assert p.n == 20 and p.accuracy.value == 0.5 and p.position_bias.value == 1.0


def test_ties_counted_as_wrong(templates: TemplateSet) -> None:
    report = run(always_first(MockBackend()), templates, n=20, ties="wrong")
    assert report.accuracy is not None and report.accuracy.value == 0.0
    # order ab has no ties (0.8 / 0.2), so it is unaffected
    assert report.single_order_accuracy is not None and report.single_order_accuracy.value == 0.5


def test_perfect_critic(templates: TemplateSet) -> None:
    # p(chosen) = 0.9 in both orders under both principles: every pair right, p = 0.9.
    report = run(perfect(MockBackend()), templates, n=20)
    assert report.accuracy is not None and report.accuracy.value == 1.0
    # Wilson: 20 of 20 right does not collapse to [1, 1]
    assert (report.accuracy.low, report.accuracy.high) == pytest.approx((0.8389, 1.0), abs=1e-4)
    assert report.single_order_accuracy is not None and report.single_order_accuracy.value == 1.0
    assert report.position_bias is not None and report.position_bias.value == 0.0
    assert report.order_consistency is not None and report.order_consistency.value == 1.0
    assert all(r.p_chosen == pytest.approx(0.9) for r in report.pairs)
    # symmetric calibration set: 20 × (0.9, outcome 1) and 20 × (0.1, outcome 0)
    # Brier = (0.1² · 20 + 0.1² · 20) / 40 = 0.01; ECE = ½·|1 − 0.9| + ½·|0 − 0.1| = 0.1
    assert report.brier is not None and report.brier.value == pytest.approx(0.01)
    assert report.ece is not None and report.ece.value == pytest.approx(0.1)
    non_empty = [b for b in report.reliability if b.count]
    # bins are [low, high): 0.1 falls in [0.1, 0.2), 0.9 in [0.9, 1.0]
    assert [(b.low, b.count) for b in non_empty] == [(0.1, 20), (0.9, 20)]
    assert non_empty[0].mean_predicted == pytest.approx(0.1) and non_empty[0].observed == 0.0
    assert non_empty[1].mean_predicted == pytest.approx(0.9) and non_empty[1].observed == 1.0


def test_right_on_x_position_biased_on_y(templates: TemplateSet) -> None:
    # X: p(chosen) = 0.9 in both orders. Y: always "A" at 0.8, so p_ab = 0.8, p_ba = 0.2 → 0.5.
    mock = perfect(MockBackend(), X_TEXT)
    always_first(mock, Y_TEXT)
    report = run(mock, templates, n=20)
    by = {p.principle: p for p in report.per_principle}
    x, y = by["xenial@1"], by["yare@1"]
    assert x.accuracy.value == 1.0 and x.position_bias.value == 0.0 and x.order_consistency.value == 1.0
    assert x.brier.value == pytest.approx(0.01) and x.ece.value == pytest.approx(0.1)
    assert y.accuracy.value == 0.5 and y.position_bias.value == 1.0 and y.order_consistency.value == 0.0
    assert y.single_order_accuracy.value == 0.5 and y.ties == 20
    # ensemble p(chosen) = (0.9 + 0.5) / 2 = 0.7 for every pair: always right, under-confident
    assert all(r.p_chosen == pytest.approx(0.7) for r in report.pairs)
    assert report.accuracy is not None and report.accuracy.value == 1.0
    assert report.brier is not None and report.brier.value == pytest.approx(0.09)
    assert report.ece is not None and report.ece.value == pytest.approx(0.3)
    # single order: (0.9 + 0.8) / 2 or (0.9 + 0.2) / 2 = 0.85 or 0.55, both right
    assert report.single_order_accuracy is not None and report.single_order_accuracy.value == 1.0
    # half of the 40 judgements are position-biased (all of Y's); the pair-level flag needs every principle
    assert report.position_bias is not None and report.position_bias.value == 0.5
    assert report.order_consistency is not None and report.order_consistency.value == 0.5
    assert report.pair_order_consistency is not None and report.pair_order_consistency.value == 0.0
    assert {r.decisive_principle for r in report.pairs} == {"xenial@1"}


def test_sampled_principles_split_the_pairs(templates: TemplateSet) -> None:
    mock = perfect(MockBackend(), X_TEXT)
    always_first(mock, Y_TEXT)
    report = run(mock, templates, n=30, all_principles=False, k=1)
    by = {p.principle: p for p in report.per_principle}
    n_x, n_y = by["xenial@1"].n, by["yare@1"].n
    assert n_x + n_y == 30 and n_x > 0 and n_y > 0
    assert by["xenial@1"].accuracy.value == 1.0 and by["yare@1"].accuracy.value == 0.5
    assert report.accuracy is not None and report.accuracy.value == pytest.approx((n_x + 0.5 * n_y) / 30)
    assert all(len(r.principles) == 1 for r in report.pairs)
    # the sample is seeded per pair id: the same on a rerun
    again = run(
        perfect(always_first(MockBackend(), Y_TEXT), X_TEXT), templates, n=30, all_principles=False, k=1
    )
    assert [r.principles for r in again.pairs] == [r.principles for r in report.pairs]


def test_named_principle_subset(templates: TemplateSet) -> None:
    report = run(perfect(MockBackend()), templates, n=4, principles=("yare",))
    assert [p.principle for p in report.per_principle] == ["yare@1"]
    with pytest.raises(RlaifError, match="no principle 'nope'"):
        run(perfect(MockBackend()), templates, n=4, principles=("nope",))
    with pytest.raises(RlaifError, match="cannot sample 3"):
        run(perfect(MockBackend()), templates, n=4, all_principles=False, k=3)


def test_chain_of_thought_labels_are_clamped(templates: TemplateSet) -> None:
    mock = perfect(MockBackend(default_response="Both are fine."))
    report = run(mock, templates, n=6, chain_of_thought=True)
    # 0.9 clamped to 0.6 in each order: p(chosen) = 0.6, still right
    assert all(r.p_chosen == pytest.approx(0.6) for r in report.pairs)
    assert report.accuracy is not None and report.accuracy.value == 1.0
    assert [c.kind for c in mock.calls] == ["generate", "score"]


def test_unlabeled_pairs_are_counted_with_reasons_and_left_out(templates: TemplateSet) -> None:
    mock = perfect(MockBackend())
    mock.add_garbage("Question number 3?")
    mock.add_garbage("Question number 7?")
    report = run(mock, templates, n=10)
    assert report.n_pairs == 10 and report.n_labeled == 8 and report.n_unlabeled == 2
    assert report.coverage == pytest.approx(0.8)
    assert report.unlabeled_reasons == {"critic returned non-finite log-probabilities": 2}
    assert report.accuracy is not None and report.accuracy.n == 8 and report.accuracy.value == 1.0
    bad = {r.pair_id: r.unlabeled_reason for r in report.pairs if not r.labeled}
    assert set(bad) == {"pair-03", "pair-07"}
    assert all("non-finite" in (reason or "") for reason in bad.values())
    assert "critic returned non-finite log-probabilities: 2" in markdown(report)


def test_nothing_labeled_gives_an_empty_report(templates: TemplateSet) -> None:
    mock = MockBackend()
    mock.add_garbage("Question")
    report = run(mock, templates, n=3)
    assert report.n_labeled == 0 and report.accuracy is None and report.per_principle == ()
    assert "No pair was labeled" in markdown(report)


def test_input_errors(templates: TemplateSet) -> None:
    with pytest.raises(DataFileError, match="no human preference pairs"):
        evaluate_agreement(MockBackend(), templates, [], CONSTITUTION, AgreementConfig(), progress=False)
    dup = pairs(2)
    dup[1] = PreferencePair("pair-00", dup[1].conversation, dup[1].chosen, dup[1].rejected)
    with pytest.raises(DataFileError, match="duplicate pair id 'pair-00'"):
        evaluate_agreement(MockBackend(), templates, dup, CONSTITUTION, AgreementConfig(), progress=False)
    with pytest.raises(RlaifError, match="k must be at least 1"):
        AgreementConfig(k=0)
    with pytest.raises(RlaifError, match="ties"):
        AgreementConfig(ties="coin")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------
# rules vs critic


def test_rule_vs_critic_agreement(templates: TemplateSet) -> None:
    # "short": at most 3 words. Chosen "GOOD answer N." has 3 words (passes), rejected gets padded on some pairs.
    short = _principle("short", "Which response is shorter?", Rule(max_words=3))
    constitution = Constitution(name="rules", principles=(short,))
    data = pairs(10)
    data = [
        PreferencePair(
            p.id, p.conversation, p.chosen, p.rejected + (" and then some more words" if i < 6 else "")
        )
        for i, p in enumerate(data)
    ]
    # the critic prefers the BAD (longer) response in both orders: disagrees with the rule and with the human
    mock = MockBackend()
    a_bad, b_bad = r"<response_a>\nBAD", r"<response_b>\nBAD"
    mock.add_score(a_bad, "A", math.log(0.7), regex=True).add_score(a_bad, "B", math.log(0.3), regex=True)
    mock.add_score(b_bad, "A", math.log(0.3), regex=True).add_score(b_bad, "B", math.log(0.7), regex=True)
    cfg = AgreementConfig(all_principles=True, bootstrap_resamples=200)
    report = evaluate_agreement(mock, templates, data, constitution, cfg, progress=False)
    assert report.accuracy is not None and report.accuracy.value == 0.0
    (rule,) = report.rules
    assert rule.principle == "short@1"
    assert (rule.n_judged, rule.n_decisive, rule.n_both_pass, rule.n_both_fail) == (10, 6, 4, 0)
    assert rule.critic_agrees is not None and rule.critic_agrees.value == 0.0
    assert rule.human_agrees is not None and rule.human_agrees.value == 1.0
    verdicts = [j.rule for r in report.pairs for j in r.judgements]
    assert verdicts == ["chosen"] * 6 + ["both_pass"] * 4


def test_rules_on_the_shipped_style_pairs(templates: TemplateSet) -> None:
    from rlaif.constitution import check_rule, load_constitution
    from rlaif.feedback.inputs import load_preferences

    root = Path(__file__).resolve().parents[3]
    constitution = load_constitution(root / "principles/style.yaml")
    data = load_preferences(root / "data/human_labels/style_rule_pairs.jsonl")
    cfg = AgreementConfig(all_principles=True, bootstrap_resamples=200)
    report = evaluate_agreement(
        always_first(MockBackend()), templates, data, constitution, cfg, progress=False
    )
    by = {r.principle: r for r in report.rules}
    assert set(by) == {p.ref for p in constitution.principles}  # every style principle has a rule
    for principle in constitution.principles:
        assert principle.rule is not None
        verdicts = [
            (check_rule(principle.rule, p.chosen).passed, check_rule(principle.rule, p.rejected).passed)
            for p in data
        ]
        decisive = [c for c, r in verdicts if c != r]
        ra = by[principle.ref]
        assert ra.n_judged == len(data) and ra.n_decisive == len(decisive)
        if decisive:
            assert ra.human_agrees is not None
            assert ra.human_agrees.value == pytest.approx(sum(decisive) / len(decisive))
            # an always-"A" critic ties on every judgement: half agreement with the rule
            assert ra.critic_agrees is not None and ra.critic_agrees.value == 0.5
    # the concise rule separates some pairs, always in the human's favour
    assert by["concise@1"].n_decisive > 0 and by["concise@1"].human_agrees.value == 1.0  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------------------
# the report and its files


def test_report_files(templates: TemplateSet, tmp_path: Path) -> None:
    import json

    data = pairs(8)
    mock = perfect(MockBackend(), X_TEXT)
    always_first(mock, Y_TEXT)
    cfg = AgreementConfig(all_principles=True, bootstrap_resamples=200)
    report = evaluate_agreement(mock, templates, data, CONSTITUTION, cfg, progress=False, source="h.jsonl")
    paths = write_report(report, data, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "data.parquet"}
    d = json.loads(paths["json"].read_text())
    assert d["accuracy"]["value"] == 1.0 and d["n_pairs"] == 8 and d["coverage"] == 1.0
    assert d["config"]["all_principles"] is True and "pairs" not in d
    assert d["critic_model"] == "mock-char-lm" and len(d["template_hash"]) == 64
    assert [p["principle"] for p in d["per_principle"]] == ["xenial@1", "yare@1"]
    md = paths["markdown"].read_text()
    assert "| accuracy (both orders) | 100.0% [67.6, 100.0]" in md
    assert "| yare@1 | 8 | 50.0% [21.5, 78.5]" in md
    rows = read_rows(paths["pairs"].parent)
    assert [r["pair_id"] for r in rows] == [p.id for p in data]
    assert rows[0]["prompt"] == "Question number 0?"  # plain strings: every conversation is one user turn
    assert rows[0]["chosen"] == "GOOD answer 0." and rows[0]["p_chosen"] == pytest.approx(0.7)
    assert sum(r["shown_first"] == "chosen" for r in rows) == 4
    judgements = json.loads(rows[0]["judgements"])
    assert [j["principle"] for j in judgements] == ["xenial@1", "yare@1"]
    assert judgements[1]["same_letter"] == "first" and judgements[0]["consistent"] is True
    assert judgements[0]["choice_mass"] == pytest.approx([1.0, 1.0])
    # deterministic: the same report gives byte-identical files
    write_report(report, data, tmp_path / "again")
    assert (tmp_path / "again/report.json").read_bytes() == paths["json"].read_bytes()
    assert (tmp_path / "again/pairs/data.parquet").read_bytes() == paths["pairs"].read_bytes()


def test_conversational_prompt_column(templates: TemplateSet) -> None:
    data = pairs(2)
    data[1] = PreferencePair(
        "conv",
        (ChatMessage("system", "Be brief."), ChatMessage("user", "Hi?")),
        "GOOD hello.",
        "BAD hello.",
    )
    report = evaluate_agreement(
        perfect(MockBackend()),
        templates,
        data,
        CONSTITUTION,
        AgreementConfig(all_principles=True),
        progress=False,
    )
    rows = pair_rows(report, data)
    assert rows[0]["prompt"] == [{"role": "user", "content": "Question number 0?"}]
    assert rows[1]["prompt"][0] == {"role": "system", "content": "Be brief."}


def test_reliability_table_bins() -> None:
    table = reliability_table([0.95, 0.65, 0.35], bins=4)
    # symmetric set: 0.95/1, 0.65/1, 0.35/1, 0.05/0, 0.35/0, 0.65/0
    assert [b.count for b in table] == [1, 2, 2, 1]
    assert table[1].observed == pytest.approx(0.5) and table[1].mean_predicted == pytest.approx(0.35)
    assert table[3].observed == 1.0


def test_vectorised_calibration_matches_the_stats_module() -> None:
    import random

    import numpy as np

    from rlaif.evals.agreement import _ece_rows, symmetric_calibration_set
    from rlaif.stats import expected_calibration_error

    rng = random.Random(3)
    rows = [[rng.random() for _ in range(25)] for _ in range(5)] + [[0.9] * 5 + [0.1] * 5 + [0.5] * 15]
    got = _ece_rows(np.asarray(rows), 10)
    for row, ece in zip(rows, got, strict=True):
        assert ece == pytest.approx(expected_calibration_error(*symmetric_calibration_set(row), bins=10))


def test_intervals_are_seeded_and_cover_the_estimate(templates: TemplateSet) -> None:
    mock = perfect(MockBackend(), X_TEXT)
    always_first(mock, Y_TEXT)
    a = run(mock, templates, n=20, all_principles=False, k=1, seed=5)
    b = run(
        perfect(always_first(MockBackend(), Y_TEXT), X_TEXT),
        templates,
        n=20,
        all_principles=False,
        k=1,
        seed=5,
    )
    assert a.accuracy == b.accuracy and a.brier == b.brier and a.per_principle == b.per_principle
    assert a.accuracy is not None and a.accuracy.low < a.accuracy.value < a.accuracy.high
