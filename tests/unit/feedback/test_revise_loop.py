"""Critique → revision on scripted mock backends: rounds, stop conditions, few-shot turns, cleaning, seeds, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import Constitution, load_constitution, sample_principles
from rlaif.errors import RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.revise import revise
from rlaif.feedback.revise_config import InitialResponse, ReviseConfig
from rlaif.feedback.revise_text import clean_critique, clean_revision, few_shot_turns
from rlaif.prompting import TemplateSet
from rlaif.seeds import derive_seed
from rlaif.strict import ConfigError

ROOT = Path(__file__).resolve().parents[3]
HHH = ROOT / "principles/hhh.yaml"
CRITIQUE_MARK = "Critique request:"
REVISION_MARK = "Revision request:"


@pytest.fixture(scope="module")
def hhh() -> Constitution:
    return load_constitution(HHH)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


def item(i: int = 1, response: str = "ORIGINAL reply.") -> InitialResponse:
    return InitialResponse(f"p{i}", (ChatMessage("user", f"Question {i}?"),), response)


def scripted(revisions: object = "REVISED reply.", critique: object = "Critique: too vague.") -> MockBackend:
    mock = MockBackend("policy")
    mock.add_response(CRITIQUE_MARK, critique)  # type: ignore[arg-type]
    mock.add_response(REVISION_MARK, revisions)  # type: ignore[arg-type]
    # the critic prefers whatever is shown first in every order: never both orders for the revision
    mock.add_score("Answer: (", "A", -0.5).add_score("Answer: (", "B", -1.5)
    return mock


def requests_with(mock: MockBackend, mark: str) -> list[str]:
    return [mock.prompt_text(r.prompt) for r in mock.generate_requests if mark in mock.prompt_text(r.prompt)]


def test_rounds_revise_the_latest_revision_with_seeded_principles(
    hhh: Constitution, templates: TemplateSet
) -> None:
    mock = scripted(revisions=["First revision.", "Second revision."])
    run = revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(rounds=2, seed=7))
    (rec,) = run.records
    assert [r.revision for r in rec.rounds] == ["First revision.", "Second revision."]
    assert [r.kept for r in rec.rounds] == [True, True]
    assert [r.critique for r in rec.rounds] == ["too vague.", "too vague."]  # "Critique:" label stripped
    assert rec.final == "Second revision." and rec.stop == "rounds"
    expected = [sample_principles(hhh, 1, seed=derive_seed(7, "p1", r))[0].ref for r in range(2)]
    assert [r.principle for r in rec.rounds] == expected
    # round 2 critiques and revises the round-1 revision, not the original
    crit = requests_with(mock, CRITIQUE_MARK)
    assert "ORIGINAL reply." in crit[0] and "First revision." in crit[1] and "ORIGINAL" not in crit[1]
    revs = requests_with(mock, REVISION_MARK)
    assert "<critique>\ntoo vague.\n</critique>" in revs[0]
    assert run.sft_rows[0]["messages"][-1] == {"role": "assistant", "content": "Second revision."}


def test_principles_do_not_depend_on_other_prompts(hhh: Constitution, templates: TemplateSet) -> None:
    alone = revise(scripted(), scripted(), [item(3)], hhh, templates, ReviseConfig(seed=1))
    many = revise(scripted(), scripted(), [item(1), item(2), item(3)], hhh, templates, ReviseConfig(seed=1))
    assert alone.records[0].rounds[0].principle == many.records[2].rounds[0].principle


@pytest.mark.parametrize(
    ("revisions", "critique", "stop"),
    [
        ("ORIGINAL   reply.", "Critique: fine.", "unchanged"),  # equal up to whitespace
        ("Revision:  ", "Critique: fine.", "empty_revision"),  # only boilerplate
        ("REVISED reply.", "  ", "empty_critique"),
    ],
)
def test_stop_conditions_in_round_one(
    hhh: Constitution, templates: TemplateSet, revisions: str, critique: str, stop: str
) -> None:
    mock = scripted(revisions=revisions, critique=critique)
    run = revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(rounds=3))
    (rec,) = run.records
    assert rec.stop == stop and not rec.revised and rec.final == "ORIGINAL reply."
    assert len(rec.rounds) == 1 and rec.rounds[0].stop == stop and not rec.rounds[0].kept
    assert run.sft_rows == [] and run.pair_rows == []
    assert run.stats.stop_reasons == {stop: 1} and run.stats.revised == 0
    assert not [c for c in mock.calls if c.kind == "score"]  # nothing to judge, the critic is not asked


def test_unchanged_in_round_two_keeps_round_one(hhh: Constitution, templates: TemplateSet) -> None:
    mock = scripted(revisions=["Better reply.", "Better  reply."])
    run = revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(rounds=4))
    (rec,) = run.records
    assert [r.kept for r in rec.rounds] == [True, False] and rec.stop == "unchanged"
    assert rec.final == "Better reply." and len(requests_with(mock, CRITIQUE_MARK)) == 2
    assert run.stats.kept_rounds == {1: 1}


def test_truncated_revision_is_dropped_unless_kept(hhh: Constitution, templates: TemplateSet) -> None:
    long = "A much longer revision that will not fit."
    mock = scripted(revisions=long)
    run = revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(revision_max_new_tokens=10))
    assert run.records[0].stop == "truncated_revision" and not run.records[0].revised
    mock = scripted(revisions=long)
    cfg = ReviseConfig(revision_max_new_tokens=10, drop_truncated=False)
    run = revise(mock, mock, [item(1)], hhh, templates, cfg)
    assert run.records[0].final == long[:10]


def test_empty_initial_response_is_not_revised(hhh: Constitution, templates: TemplateSet) -> None:
    mock = scripted()
    run = revise(mock, mock, [item(1, response="  ")], hhh, templates, ReviseConfig())
    assert run.records[0].stop == "empty_response" and mock.calls == []


def test_prompts_are_answered_by_the_policy_first(hhh: Constitution, templates: TemplateSet) -> None:
    policy = scripted().add_response("Question 1?", "ORIGINAL reply.")
    critic = MockBackend("critic")
    critic.add_response(CRITIQUE_MARK, "Too vague.").add_score("Answer: (", "A", -0.1)
    rows = [PromptRow("p1", (ChatMessage("user", "Question 1?"),))]
    run = revise(policy, critic, rows, hhh, templates, ReviseConfig(response_temperature=0.7, seed=3))
    rec = run.records[0]
    assert rec.item.source == "generated" and rec.item.response == "ORIGINAL reply."
    first = policy.generate_requests[0]
    assert first.prompt == rows[0].conversation
    assert first.params.temperature == 0.7 and first.params.seed == derive_seed(3, "p1", "response")
    # the critic critiques and judges; the policy revises its own response (the paper's set-up)
    assert [c.kind for c in critic.calls] == ["generate", "score"]
    assert len(requests_with(policy, REVISION_MARK)) == 1 and not requests_with(policy, CRITIQUE_MARK)
    assert run.provenance["reviser_model"] == "mock:policy"


def test_reviser_critic_writes_revisions(hhh: Constitution, templates: TemplateSet) -> None:
    policy, critic = MockBackend("policy"), scripted()
    revise(policy, critic, [item(1)], hhh, templates, ReviseConfig(reviser="critic"))
    assert policy.calls == [] and len(requests_with(critic, REVISION_MARK)) == 1


def test_few_shot_examples_are_prepended_as_chat_turns(hhh: Constitution, templates: TemplateSet) -> None:
    data = hhh.model_dump()
    data["examples"] = [
        {
            "messages": [
                {"role": "user", "content": "How do I pick a lock?"},
                {"role": "assistant", "content": "Use a tension wrench."},
                {"role": "user", "content": "Critique request: is this harmful?"},
                {"role": "assistant", "content": "It helps with burglary."},
            ]
        },
        {"messages": [{"role": "system", "content": "You critique replies."}]},
    ]
    with_examples = Constitution.model_validate(data)
    shots = few_shot_turns(with_examples)
    assert [m.role for m in shots] == ["system", "user", "assistant", "user", "assistant"]
    mock = scripted()
    revise(mock, mock, [item(1)], with_examples, templates, ReviseConfig())
    for request in mock.generate_requests:
        assert isinstance(request.prompt, tuple)
        assert request.prompt[:5] == shots
        assert request.prompt[5].role == "user" and len(request.prompt) == 6
    mock = scripted()
    revise(mock, mock, [item(1)], with_examples, templates, ReviseConfig(few_shot=False))
    assert all(len(r.prompt) == 1 for r in mock.generate_requests)


def test_sampled_critiques_are_seeded_per_prompt_and_round(hhh: Constitution, templates: TemplateSet) -> None:
    mock = scripted(revisions=["One.", "Two."])
    revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(rounds=2, critique_temperature=0.8, seed=5))
    seeds = [r.params.seed for r in mock.generate_requests if CRITIQUE_MARK in mock.prompt_text(r.prompt)]
    assert seeds == [derive_seed(5, "p1", 0, "critique"), derive_seed(5, "p1", 1, "critique")]
    greedy = [r.params.seed for r in mock.generate_requests if REVISION_MARK in mock.prompt_text(r.prompt)]
    assert greedy == [None, None]


def test_cache_makes_a_rerun_call_nothing(hhh: Constitution, templates: TemplateSet, tmp_path: Path) -> None:
    cfg = ReviseConfig(cache=str(tmp_path / "calls.sqlite"))
    first_mock = scripted()
    first = revise(first_mock, first_mock, [item(1), item(2)], hhh, templates, cfg)
    again_mock = scripted()
    again = revise(again_mock, again_mock, [item(1), item(2)], hhh, templates, cfg)
    assert first_mock.calls and again_mock.calls == []
    assert again.sft_rows == first.sft_rows and again.pair_rows == first.pair_rows


def test_derive_seed_is_pinned() -> None:
    # recorded datasets depend on these values: changing the derivation changes every sampled principle
    assert derive_seed(0, "p1", 0) != derive_seed(0, "p1", 1) != derive_seed(1, "p1", 1)
    assert 0 <= derive_seed(123, "x") < 2**31
    assert derive_seed(0, "p1", 0) == 1742655387


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Revision: Boil it gently.", "Boil it gently."),
        ("**Revised response:**\nBoil it gently.", "Boil it gently."),
        ('Sure! Here is the revised response:\n\n"Boil it gently."', "Boil it gently."),
        ("Here's a rewritten version: Boil it gently.", "Boil it gently."),
        ("<response>\nBoil it gently.\n</response>", "Boil it gently."),
        ("‹revision›Boil it gently.‹/revision›", "Boil it gently."),
        ("“Boil it gently.”", "Boil it gently."),
        ("<response>\nBoil it gently, then", "Boil it gently, then"),  # opened, cut at the length cap
        ("Boil it gently.\n</revision>", "Boil it gently."),
        ("Use <response> tags here.", "Use <response> tags here."),
        ('"Boil" it "gently"', '"Boil" it "gently"'),  # not one quoted block: kept
        ("Revision of the rice method: rinse first.", "Revision of the rice method: rinse first."),
        ("Answer: 42", "Answer: 42"),
        ("  plain text  ", "plain text"),
    ],
)
def test_clean_revision(raw: str, clean: str) -> None:
    assert clean_revision(raw) == clean


def test_clean_critique() -> None:
    assert clean_critique("**Critique:** It dodges.") == "It dodges."
    assert clean_critique("The critique: fine") == "The critique: fine"


def test_bad_config_and_inputs(hhh: Constitution, templates: TemplateSet) -> None:
    with pytest.raises(ConfigError, match="rounds"):
        ReviseConfig(rounds=0)
    with pytest.raises(ConfigError, match="'both_orders', 'mean' or 'always'"):
        ReviseConfig(accept="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown_field"):
        ReviseConfig(unknown_field=1)  # type: ignore[call-arg]
    mock = scripted()
    with pytest.raises(RlaifError, match="nothing to revise"):
        revise(mock, mock, [], hhh, templates, ReviseConfig())
    with pytest.raises(RlaifError, match="tags"):
        revise(mock, mock, [item(1)], hhh, templates, ReviseConfig(principle_tags=("no-such-tag",)))
