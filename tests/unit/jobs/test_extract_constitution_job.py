"""run_extract_constitution: a scripted mock critic's principles tested and kept from Python, as
`rlaif extract-constitution` runs it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import rlaif
from rlaif.backends.mock import ScoreRule
from rlaif.backends.spec import ModelSpec
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.jobs.extract_constitution import ExtractConstitutionJob, run_extract_constitution
from rlaif.workbench.extract import ExtractConfig

CONCISE, POLITE = "Which response is more concise?", "Which response is more polite?"


def _rules() -> list[ScoreRule]:
    """Judged on CONCISE the brief answer wins (0.9); judged on POLITE it is a coin toss (a tie)."""
    rules = []
    for question, p in ((CONCISE, 0.9), (POLITE, 0.5)):
        for tag, first in (("response_a", p), ("response_b", 1 - p)):
            pattern = rf"(?s)^(?=.*<{tag}>\nBrief)(?=.*Question: {question})"
            rules += [
                ScoreRule(pattern, "A", math.log(first), regex=True),
                ScoreRule(pattern, "B", math.log(1 - first), regex=True),
            ]
    return rules


#: proposes the same two principles for every pair
CRITIC = ModelSpec(
    model="critic",
    backend="mock",
    options={"rules": {"<preferred_response>": f"1. {CONCISE}\n2. {POLITE}"}, "score_rules": _rules()},
)


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"pair-{i:02d}",
            "prompt": f"Tell me about topic {i}.",
            "chosen": f"Brief: topic {i} is seven.",
            "rejected": f"Lengthy: there is a great deal to say about topic {i}, and in the end it is seven.",
        }
        for i in range(20)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _job(tmp_path: Path, pairs: Path, critic: ModelSpec = CRITIC, **update: object) -> ExtractConstitutionJob:
    job = ExtractConstitutionJob(
        pairs=pairs,
        out=tmp_path / "x",
        critic=critic,
        cache=tmp_path / "cache.sqlite",
        config=ExtractConfig(),
    )
    return job.model_copy(update=update)


def test_the_principle_that_explains_the_preferences_is_kept(tmp_path: Path, pairs: Path) -> None:
    result = run_extract_constitution(_job(tmp_path, pairs))
    out = tmp_path / "x"
    assert (result.report_json, result.report_md, result.report_html) == (
        out / "extract.json",
        out / "extract.md",
        out / "extract.html",
    )
    assert result.require_constitution() == result.constitution == out / "constitution.yaml"
    by = {c.text: c for c in result.extraction.candidates}
    assert set(by) == {CONCISE, POLITE} and by[CONCISE].selected and not by[POLITE].selected
    assert by[CONCISE].agreement is not None and by[CONCISE].agreement.value == 1.0
    assert by[POLITE].agreement is not None and by[POLITE].agreement.value == 0.5
    assert by[POLITE].relevance is not None and by[POLITE].relevance.value == 0.0
    ex = result.extraction
    assert ex.test_agreement is not None and ex.test_agreement.value == 1.0
    constitution = load_constitution(out / "constitution.yaml")
    assert [(p.id, p.compare) for p in constitution.principles] == [("concise", CONCISE)]
    assert constitution == ex.constitution
    assert json.loads((out / "extract.json").read_text())["selected"] == ["concise"]
    # an existing constitution is kept unless forced
    with pytest.raises(RlaifError, match="output file exists already"):
        run_extract_constitution(_job(tmp_path, pairs))
    again = run_extract_constitution(_job(tmp_path, pairs, force=True))
    assert (out / "constitution.yaml").read_text() == ex.yaml_text == again.extraction.yaml_text


def test_no_candidate_passing_writes_the_reports_and_no_constitution(tmp_path: Path, pairs: Path) -> None:
    gibberish = ModelSpec(model="critic", backend="mock")  # unscripted: proposes noise
    result = run_extract_constitution(_job(tmp_path, pairs, gibberish))
    assert result.constitution is None and result.extraction.constitution is None
    assert result.report_md.is_file() and result.report_json.is_file()
    assert not (tmp_path / "x" / "constitution.yaml").exists()
    with pytest.raises(RlaifError, match=r"no candidate principle reached agreement 0\.6") as e:
        result.require_constitution()
    assert str(result.report_md) in str(e.value)


def test_the_job_is_exported_lazily() -> None:
    assert rlaif.ExtractConstitutionJob is ExtractConstitutionJob
    assert rlaif.run_extract_constitution is run_extract_constitution
