"""The generate and revise stages' fingerprints for an unchanged pipeline file never change (old runs resume).

The expected dicts were computed before the pipeline's ``generate:``/``revise:`` sections became the stages' own
configs (:class:`rlaif.feedback.responses.GenerateConfig`, :class:`rlaif.feedback.revise_config.ReviseConfig`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlaif.constitution import load_constitution
from rlaif.loop import load_pipeline
from rlaif.loop import stages as st
from rlaif.loop.context import RunContext
from rlaif.loop.pipeline import resolve_data_path
from rlaif.loop.rundir import canonical
from rlaif.resources import shipped_dir


def _context(name: str, run_dir: Path, overrides: tuple[str, ...] = ()) -> RunContext:
    lp = load_pipeline(shipped_dir("pipelines") / name, list(overrides))
    assert lp.path is not None
    pl = lp.pipeline
    constitution = load_constitution(resolve_data_path(pl.constitution[0], pipeline_dir=lp.path.parent))
    return RunContext(pl, run_dir, lp.path.parent, constitution, [], [], [], [], progress=False)


_QUICKSTART = {
    "generate": {
        "backend": "transformers",
        "batch_prompts": 32,
        "contrast": {"k": 4, "tags": None},
        "max_new_tokens": 160,
        "model": "smollm2",
        "n": 1,
        "overlong": "truncate",
        "seed": 1,
        "temperature": 0.7,
        "top_p": 1.0,
    },
    "revise": {
        "critic": "smollm2",
        "enabled": False,
        "few_shot": True,
        "max_new_tokens": 128,
        "policy": "smollm2",
        "require_both_orders": True,
        "rounds": 1,
        "seed": 2,
    },
}
_DISTILL = {
    "generate": {
        "backend": "transformers",
        "batch_prompts": 32,
        "max_new_tokens": 48,
        "model": "smollm2",
        "n": 2,
        "overlong": "truncate",
        "seed": 1,
        "temperature": 1.0,
        "top_p": 1.0,
    },
    "revise": {
        "critic": "smollm2",
        "enabled": True,
        "few_shot": False,
        "max_new_tokens": 64,
        "policy": "smollm2",
        "require_both_orders": True,
        "rounds": 1,
        "seed": 2,
    },
}
_SMOKE_OVERRIDES = (
    "revise.enabled=true",
    "revise.require_both_orders=false",
    "models.critic=other",
    "seed=5",
    "revise.few_shot=0",
    "generate.temperature=1",
    "generate.top_p=0.9",
)
_SMOKE = {
    "generate": {
        "backend": "transformers",
        "batch_prompts": 32,
        "max_new_tokens": 48,
        "model": "smollm2",
        "n": 4,
        "overlong": "truncate",
        "seed": 6,
        "temperature": 1.0,
        "top_p": 0.9,
    },
    "revise": {
        "critic": "other",
        "enabled": True,
        "few_shot": False,
        "max_new_tokens": 128,
        "policy": "smollm2",
        "require_both_orders": False,
        "rounds": 1,
        "seed": 7,
    },
}


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("quickstart.yaml", (), _QUICKSTART),
        ("distill-baseline.yaml", (), _DISTILL),
        ("smoke.yaml", _SMOKE_OVERRIDES, _SMOKE),
    ],
    ids=["quickstart", "distill-baseline", "smoke-overridden"],
)
def test_generate_and_revise_fingerprint_configs_are_pinned(
    tmp_path: Path, name: str, overrides: tuple[str, ...], expected: dict[str, Any]
) -> None:
    ctx = _context(name, tmp_path, overrides)
    generate = st.generate_stage(ctx, 1).config
    revise = st.revise_stage(ctx, 2).config
    assert generate == expected["generate"]
    assert revise == expected["revise"]
    # byte-identical as hashed (a float written as an int would change the canonical JSON)
    assert canonical(generate) == canonical(expected["generate"])
    assert canonical(revise) == canonical(expected["revise"])


def test_fields_pipelines_could_not_set_enter_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    extra = ("generate.stop=[END]", "revise.reviser=critic", "revise.revision_max_new_tokens=96")
    ctx = _context("smoke.yaml", tmp_path, _SMOKE_OVERRIDES + extra)
    generate = st.generate_stage(ctx, 1).config
    revise = st.revise_stage(ctx, 2).config
    assert generate == {**_SMOKE["generate"], "stop": ["END"]}
    expected = {k: v for k, v in _SMOKE["revise"].items() if k != "max_new_tokens"}
    assert revise == {
        **expected,
        "reviser": "critic",
        "critique_max_new_tokens": 128,
        "revision_max_new_tokens": 96,
    }


def test_a_pipeline_may_not_set_what_the_loop_owns(tmp_path: Path) -> None:
    from rlaif.errors import DataFileError

    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\n"
        "constitution: principles/style.yaml\n"
        "prompts:\n"
        "  files: [data/prompts/smoke.jsonl]\n"
        "generate:\n"
        "  seed: 3\n"
        "revise:\n"
        "  max_new_tokens: 64\n"
        "  critique_max_new_tokens: 32\n"
    )
    with pytest.raises(DataFileError) as e:
        load_pipeline(path)
    found = {(p.line, p.field): p.message for p in e.value.problems}
    assert "top-level seed" in found[(6, "generate.seed")]
    assert "not both" in found[(8, "revise.max_new_tokens")]
