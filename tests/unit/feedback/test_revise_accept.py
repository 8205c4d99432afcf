"""Acceptance of revisions (worked out by hand from scripted log-probabilities), provenance, and the datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import Constitution, constitution_hash, load_constitution
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.revise import revise
from rlaif.feedback.revise_config import InitialResponse, ReviseConfig
from rlaif.feedback.revise_output import write_revise_run
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]
HHH = ROOT / "principles/hhh.yaml"


@pytest.fixture(scope="module")
def hhh() -> Constitution:
    return load_constitution(HHH)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


def critic_with(p_ab: float, p_ba: float) -> MockBackend:
    """A critic whose compare answers give p(revision ≻ original) = p_ab when the revision is shown first (order
    ab) and p_ba when it is shown second (order ba)."""
    mock = MockBackend("critic")
    mock.add_response("Critique request:", "It is vague.")
    revision_first = r"<response_a>\nREVISED"
    original_first = r"<response_a>\nORIGINAL"
    mock.add_score(revision_first, "A", math.log(p_ab), regex=True)
    mock.add_score(revision_first, "B", math.log(1 - p_ab), regex=True)
    mock.add_score(original_first, "A", math.log(1 - p_ba), regex=True)
    mock.add_score(original_first, "B", math.log(p_ba), regex=True)
    return mock


def policy() -> MockBackend:
    return MockBackend("policy").add_response("Revision request:", "REVISED reply.")


def one(i: int = 1, conversation: tuple[ChatMessage, ...] | None = None) -> InitialResponse:
    return InitialResponse(
        f"p{i}", conversation or (ChatMessage("user", f"Question {i}?"),), "ORIGINAL reply."
    )


# (p_ab, p_ba) -> (accepted under both_orders, mean, always); p = (p_ab + p_ba) / 2
CASES = [
    ((0.8, 0.7), (True, True, True)),  # p = 0.75: preferred in both orders
    ((0.8, 0.4), (False, True, True)),  # p = 0.60: preferred on average only (order ba prefers the original)
    ((0.3, 0.4), (False, False, True)),  # p = 0.35: the critic prefers the original
]


@pytest.mark.parametrize(("probs", "expected"), CASES)
def test_acceptance_modes(
    hhh: Constitution, templates: TemplateSet, probs: tuple[float, float], expected: tuple[bool, ...]
) -> None:
    for mode, accepted in zip(("both_orders", "mean", "always"), expected, strict=True):
        run = revise(policy(), critic_with(*probs), [one()], hhh, templates, ReviseConfig(accept=mode))  # type: ignore[arg-type]
        rec = run.records[0]
        assert rec.accepted is accepted, mode
        assert len(run.pair_rows) == int(accepted)
        (j,) = rec.label.judgements  # type: ignore[union-attr]
        assert j.p_ab == pytest.approx(probs[0]) and j.p_ba == pytest.approx(probs[1])
        assert rec.label.p == pytest.approx(sum(probs) / 2)  # type: ignore[union-attr]
        # the SFT data has every revised prompt (the paper's recipe), marked with the verdict
        assert len(run.sft_rows) == 1 and run.sft_rows[0]["accepted"] is accepted
        if accepted:
            assert run.pair_rows[0]["p_chosen"] == pytest.approx(sum(probs) / 2)


def test_counts_of_revisions_not_preferred(hhh: Constitution, templates: TemplateSet) -> None:
    # three prompts, one per case; the critic answers by which response is shown first, so script per prompt
    items = [one(1), one(2), one(3)]
    critic = MockBackend("critic").add_response("Critique request:", "It is vague.")
    for i, ((p_ab, p_ba), _) in enumerate(CASES, start=1):
        ab = rf"Question {i}\?[\s\S]*<response_a>\nREVISED"
        ba = rf"Question {i}\?[\s\S]*<response_a>\nORIGINAL"
        critic.add_score(ab, "A", math.log(p_ab), regex=True).add_score(
            ab, "B", math.log(1 - p_ab), regex=True
        )
        critic.add_score(ba, "A", math.log(1 - p_ba), regex=True).add_score(
            ba, "B", math.log(p_ba), regex=True
        )
    stats = {}
    for mode in ("both_orders", "mean", "always"):
        run = revise(policy(), critic, items, hhh, templates, ReviseConfig(accept=mode))  # type: ignore[arg-type]
        stats[mode] = run.stats
    assert (stats["both_orders"].accepted, stats["both_orders"].not_preferred) == (1, 2)
    assert (stats["mean"].accepted, stats["mean"].not_preferred) == (2, 1)
    # "always" keeps all three, and still reports the one the critic did not prefer on average
    assert (stats["always"].accepted, stats["always"].not_preferred) == (3, 1)
    for s in stats.values():
        assert (s.preferred_both_orders, s.preferred_mean, s.revised, s.unlabeled) == (1, 2, 3, 0)
    assert "did not prefer (both_orders test): 2" in stats["both_orders"].summary()


def test_unparseable_verdict_is_unlabeled_never_accepted(hhh: Constitution, templates: TemplateSet) -> None:
    critic = MockBackend("critic").add_response("Critique request:", "It is vague.")
    critic.add_garbage("Answer: (")  # NaN log-probabilities for every comparison
    run = revise(policy(), critic, [one()], hhh, templates, ReviseConfig())
    rec = run.records[0]
    assert rec.revised and not rec.accepted and run.pair_rows == []
    assert run.stats.unlabeled == 1 and run.stats.not_preferred == 0
    (reason,) = run.stats.unlabeled_reasons
    assert "non-finite" in reason
    assert run.sft_rows[0]["unlabeled_reason"] == reason and run.sft_rows[0]["p_revision"] is None
    # "always" keeps it, with no soft label to show for it
    run = revise(policy(), critic, [one()], hhh, templates, ReviseConfig(accept="always"))
    assert run.pair_rows[0]["p_chosen"] is None and run.pair_rows[0]["unlabeled_reason"] == reason


def test_provenance_columns(hhh: Constitution, templates: TemplateSet) -> None:
    cfg = ReviseConfig(seed=11)
    run = revise(policy(), critic_with(0.9, 0.8), [one()], hhh, templates, cfg)
    (row,) = run.pair_rows
    rec = run.records[0]
    assert (
        row["prompt"] == "Question 1?"
        and row["chosen"] == "REVISED reply."
        and row["rejected"] == "ORIGINAL reply."
    )
    assert row["pair_id"] == "p1:revision" and row["prompt_id"] == "p1"
    assert row["constitution_hash"] == constitution_hash(hhh)
    assert row["principles"] == [rec.rounds[0].principle] and "@" in row["principles"][0]
    assert row["template_hash"] == templates.template_hash("compare")
    assert row["template_hashes"] == {
        "critique": templates.template_hash("critique"),
        "revise": templates.template_hash("revise"),
        "compare": templates.template_hash("compare"),
    }
    assert (row["critic_model"], row["policy_model"], row["reviser_model"]) == (
        "mock:critic",
        "mock:policy",
        "mock:policy",
    )
    assert row["critic_revision"] == "1" and row["seed"] == 11
    assert (
        row["params"]["accept"] == "both_orders"
        and row["params"]["rounds"] == 1
        and "cache" not in row["params"]
    )
    (rnd,) = row["revision_rounds"]
    assert rnd["critique"] == "It is vague." and rnd["revision"] == "REVISED reply." and rnd["kept"]
    (j,) = row["judgements"]
    assert j["p_ab"] == pytest.approx(0.9) and j["p_ba"] == pytest.approx(0.8) and j["consistent"]
    assert j["mass_ab"] == pytest.approx(1.0) and j["principle"] == rec.rounds[0].principle
    assert (
        row["order_consistent"] is True and row["decisive_principle"] == rec.rounds[0].principle.split("@")[0]
    )
    assert row["accept_mode"] == "both_orders" and row["response_source"] == "given"


def test_datasets_load_with_datasets(hhh: Constitution, templates: TemplateSet, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    run = revise(policy(), critic_with(0.9, 0.8), [one(1), one(2)], hhh, templates, ReviseConfig())
    sft_dir, pairs_dir = write_revise_run(run, tmp_path / "out", hhh)
    pairs = datasets.load_dataset("parquet", data_files=str(pairs_dir / "data.parquet"))["train"]
    assert pairs.num_rows == 2 and {"prompt", "chosen", "rejected", "p_chosen"} <= set(pairs.column_names)
    assert pairs[0]["chosen"] == "REVISED reply."
    assert json.loads(pairs[0]["judgements"])[0]["p_ab"] == pytest.approx(0.9)
    sft = datasets.load_dataset("parquet", data_files=str(sft_dir / "data.parquet"))["train"]
    assert sft[1]["messages"] == [
        {"role": "user", "content": "Question 2?"},
        {"role": "assistant", "content": "REVISED reply."},
    ]
    card = (pairs_dir / "README.md").read_text(encoding="utf-8")
    assert constitution_hash(hhh) in card and "```yaml" in card and "harmlessness" in card
    assert "preferred in both orders: 2/2" in card
    # byte-identical when written again (deterministic datasets)
    before = (pairs_dir / "data.parquet").read_bytes()
    write_revise_run(run, tmp_path / "out", hhh)
    assert (pairs_dir / "data.parquet").read_bytes() == before


def test_conversational_prompts_and_empty_pairs(
    hhh: Constitution, templates: TemplateSet, tmp_path: Path
) -> None:
    chat = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello."),
        ChatMessage("user", "Question 1?"),
    )
    run = revise(policy(), critic_with(0.9, 0.8), [one(1, chat)], hhh, templates, ReviseConfig())
    (row,) = run.pair_rows
    assert row["prompt"][0] == {"role": "system", "content": "Be brief."} and len(row["prompt"]) == 4
    assert row["chosen"] == [{"role": "assistant", "content": "REVISED reply."}]
    assert run.sft_rows[0]["messages"][-1] == {"role": "assistant", "content": "REVISED reply."}
    assert len(run.sft_rows[0]["messages"]) == 5
    # every revision rejected: the pairs dataset exists, with its columns and zero rows
    rejected = revise(policy(), critic_with(0.2, 0.3), [one()], hhh, templates, ReviseConfig())
    _, pairs_dir = write_revise_run(rejected, tmp_path / "out", hhh)
    assert read_rows(pairs_dir) == []
    import pyarrow.parquet as pq

    assert {"prompt", "chosen", "rejected"} <= set(pq.read_schema(pairs_dir / "data.parquet").names)


def test_sft_accepted_only(hhh: Constitution, templates: TemplateSet) -> None:
    run = revise(
        policy(), critic_with(0.2, 0.3), [one()], hhh, templates, ReviseConfig(sft_filter="accepted")
    )
    assert run.sft_rows == [] and run.stats.revised == 1
