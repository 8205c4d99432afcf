"""run_diff_constitution: a constitution edit's flips and a principle's wording check, from Python on the mock critic,
as `rlaif diff-constitution` runs them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import rlaif
from rlaif.backends.mock import ScoreRule
from rlaif.backends.spec import ModelSpec
from rlaif.constitution import dump_constitution_yaml
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.feedback.responses import write_responses
from rlaif.jobs.diff_constitution import DiffConstitutionJob, run_diff_constitution
from rlaif.workbench.configs import DiffConstitutionConfig
from tests.unit.workbench.test_diff import LONG, SHORT, responses

#: one edit: "length" asked for the long answer and now asks for the short one; "kind" is unchanged
OLD = Constitution(
    name="c",
    principles=(
        Principle(id="length", compare="Which is better (Q-LONG)?", critique="c", revision="r"),
        Principle(id="kind", compare="Which is better (Q-KIND)?", critique="c", revision="r"),
    ),
)
NEW = OLD.model_copy(
    update={
        "version": "2",
        "principles": (
            OLD.principles[0].model_copy(update={"compare": "Which is better (Q-SHORT)?"}),
            OLD.principles[1],
        ),
    }
)


def _rules() -> list[ScoreRule]:
    """The critic prefers the long answer on Q-LONG (0.8) and Q-KIND (0.7), the short one on Q-SHORT (0.9)."""
    rules = []
    for q, good, prob in (("Q-LONG", LONG, 0.8), ("Q-KIND", LONG, 0.7), ("Q-SHORT", SHORT, 0.9)):
        for tag, (a, b) in (("response_a", (prob, 1 - prob)), ("response_b", (1 - prob, prob))):
            pattern = rf"(?s)<{tag}>\n{re.escape(good)}\n</{tag}>.*\({q}\)"
            rules += [
                ScoreRule(pattern, "A", math.log(a), regex=True),
                ScoreRule(pattern, "B", math.log(b), regex=True),
            ]
    return rules


CRITIC = ModelSpec(model="critic", backend="mock", options={"score_rules": _rules()})
LABEL = LabelConfig(k=1, progress=False)
PAIRS = 12


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A responses dataset (a short and a long answer per prompt) and the two constitutions' files."""
    write_responses(tmp_path / "responses", responses(PAIRS))
    (tmp_path / "old.yaml").write_text(dump_constitution_yaml(OLD))
    (tmp_path / "new.yaml").write_text(dump_constitution_yaml(NEW))
    return tmp_path / "responses", tmp_path / "old.yaml", tmp_path / "new.yaml"


def _job(
    tmp_path: Path, inputs: tuple[Path, Path, Path], name: str, *, new: bool = True, **config: object
) -> DiffConstitutionJob:
    responses, old, edited = inputs
    return DiffConstitutionJob(
        old=old,
        new=edited if new else None,
        responses=responses,
        out=tmp_path / name,
        critic=CRITIC,
        cache=tmp_path / "cache.sqlite",
        label=LABEL,
        config=DiffConstitutionConfig.model_validate(config),
    )


def test_an_edit_flips_the_labels_the_edited_principle_judged(
    tmp_path: Path, inputs: tuple[Path, Path, Path]
) -> None:
    result = run_diff_constitution(_job(tmp_path, inputs, "diff"))
    out = tmp_path / "diff"
    assert result.written == [out / "diff.md", out / "diff.html", out / "diff.json"]
    assert result.sensitivity is None and result.no_rewording == []
    diff = result.diff
    assert diff is not None and diff.compared == PAIRS
    # k=1: a pair's label is its one principle's judgement, so exactly the pairs "length" judged flip
    with_length = [f.pair_id for f in diff.flips]
    assert 0 < len(with_length) < PAIRS
    assert {(f.cause, f.cause_kind) for f in diff.flips} == {("length", "compare")}
    for f in diff.flips:  # p(first answer wins): the long one first on even prompts
        long_first = int(f.pair_id.split(":")[0][1:]) % 2 == 0
        assert (f.p_old, f.p_new) == pytest.approx((0.8, 0.1) if long_first else (0.2, 0.9))
    # every pair in both orders under the old version; under the new one only the edited principle's prompts
    assert (diff.calls_old, diff.calls_new) == (2 * PAIRS, 2 * len(with_length))
    report = json.loads((out / "diff.json").read_text())
    assert report == diff.to_dict() and report["flips_by_cause"] == {"length": len(with_length)}
    # a second run: every call from the cache
    again = run_diff_constitution(_job(tmp_path, inputs, "again"))
    assert again.diff is not None and (again.diff.calls_old, again.diff.calls_new) == (0, 0)
    assert again.diff.flips == diff.flips


def test_the_wording_check_judges_the_rewordings_given(
    tmp_path: Path, inputs: tuple[Path, Path, Path]
) -> None:
    (tmp_path / "variants.yaml").write_text("length:\n  - Which is better (Q-SHORT)?\n")
    job = _job(tmp_path, inputs, "sens", new=False, principles=("length",), max_pairs=5)
    result = run_diff_constitution(job.model_copy(update={"variants": tmp_path / "variants.yaml"}))
    out = tmp_path / "sens"
    assert result.diff is None and result.sensitivity_pairs == 5 and result.no_rewording == []
    assert result.written == [out / "sensitivity.md", out / "sensitivity.html", out / "sensitivity.json"]
    assert result.sensitivity is not None
    (check,) = result.sensitivity
    assert (check.principle, check.variants) == ("length@1", ("Which is better (Q-SHORT)?",))
    # the rewording asks the opposite question: every one of the 5 pairs' judgements changes side
    assert check.stability is not None and (check.stability.value, check.stability.n) == (0.0, 5)
    assert check.fragile
    data = json.loads((out / "sensitivity.json").read_text())
    assert data == {"pairs": 5, "principles": [check.to_dict()]}


def test_bad_input_is_refused_before_the_critic_loads(
    tmp_path: Path, inputs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.jobs.engine

    monkeypatch.setattr(rlaif.jobs.engine, "open_engine", _no_model)
    with pytest.raises(RlaifError, match="nothing to compare"):
        run_diff_constitution(_job(tmp_path, inputs, "x", new=False))
    with pytest.raises(RlaifError, match="no principle 'nope' in 'c'"):
        run_diff_constitution(_job(tmp_path, inputs, "x", principles=("nope",)))
    with pytest.raises(RlaifError, match="dataset not found"):
        run_diff_constitution(
            _job(tmp_path, inputs, "x").model_copy(update={"responses": tmp_path / "missing"})
        )
    assert not (tmp_path / "x").exists()


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("a model was opened")


def test_the_job_is_exported_lazily() -> None:
    assert rlaif.DiffConstitutionJob is DiffConstitutionJob
    assert rlaif.run_diff_constitution is run_diff_constitution
