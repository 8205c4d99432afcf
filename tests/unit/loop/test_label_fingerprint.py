"""The label stage's fingerprint for an unchanged pipeline file never changes (existing runs keep resuming).

The expected strings were computed on the code before ``label:`` became :class:`rlaif.feedback.labeler.LabelConfig`
(when it was the loop's own ``LabelStage`` section); they must stay byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.constitution import load_constitution
from rlaif.loop.context import RunContext
from rlaif.loop.pipeline import resolve_data_path
from rlaif.loop.rundir import canonical
from rlaif.loop.runner import load_pipeline
from rlaif.loop.stages import label_stage
from rlaif.resources import shipped_dir

_GATE = '"gate":{"enabled":true,"gold":null,"k":2,"min_accuracy":0.6}'

PINNED = {
    "quickstart.yaml": (
        '{"backend":"transformers","batch_calibration":false,"batch_pairs":32,"best_worst_by":"critic",'
        '"chain_of_thought":false,"contrast_select":"paired","cot_clamp":[0.4,0.6],"cot_max_new_tokens":256,'
        '"critic":"smollm2","drop_below":0.3,"enabled":true,' + _GATE + ',"k":4,"keep_ties":false,'
        '"label_source":"contrastive","markers":null,"min_choice_mass":0.0,"min_confidence":0.0,"p_chosen":1.0,'
        '"pairing":"first_two","seed":1,"tags":null}'
    ),
    "gpu-7b-dpo.yaml": (
        '{"backend":"vllm","batch_calibration":false,"batch_pairs":64,"best_worst_by":"critic",'
        '"chain_of_thought":true,"contrast_select":"paired","cot_clamp":[0.4,0.6],"cot_max_new_tokens":256,'
        '"critic":"Qwen/Qwen2.5-7B-Instruct","drop_below":0.3,"enabled":true,' + _GATE + ',"k":4,'
        '"keep_ties":false,"label_source":"critic","markers":null,"min_choice_mass":0.0,"min_confidence":0.1,'
        '"p_chosen":1.0,"pairing":"best_worst","seed":1,"tags":null}'
    ),
    "smoke.yaml": (
        '{"backend":"transformers","batch_calibration":false,"batch_pairs":32,"best_worst_by":"rules",'
        '"chain_of_thought":false,"contrast_select":"paired","cot_clamp":[0.4,0.6],"cot_max_new_tokens":256,'
        '"critic":"smollm2","drop_below":0.3,"enabled":true,' + _GATE + ',"k":8,"keep_ties":false,'
        '"label_source":"rules","markers":null,"min_choice_mass":0.0,"min_confidence":0.0,"p_chosen":1.0,'
        '"pairing":"best_worst","seed":1,"tags":null}'
    ),
}

#: the critic pipeline with every judge key set away from its default (the later-added ones enter only then)
OVERRIDES = [
    "label.tags=[style]",
    "label.judge_mode=verdict",
    "label.verdict_samples=3",
    "label.markers=random",
    "label.batch_calibration=true",
    "label.min_choice_mass=0.2",
    "label.gate.enabled=false",
]
PINNED_OVERRIDDEN = (
    '{"backend":"vllm","batch_calibration":true,"batch_pairs":64,"best_worst_by":"critic",'
    '"chain_of_thought":true,"contrast_select":"paired","cot_clamp":[0.4,0.6],"cot_max_new_tokens":256,'
    '"critic":"Qwen/Qwen2.5-7B-Instruct","drop_below":0.3,"enabled":true,'
    '"gate":{"enabled":false,"gold":null,"k":2,"min_accuracy":0.6},"judge_mode":"verdict","k":4,'
    '"keep_ties":false,"label_source":"critic","markers":"random","min_choice_mass":0.2,"min_confidence":0.1,'
    '"p_chosen":1.0,"pairing":"best_worst","seed":1,"tags":["style"],"verdict_samples":3}'
)


def _label_config(name: str, overrides: list[str], tmp_path: Path) -> str:
    lp = load_pipeline(shipped_dir("pipelines") / name, overrides)
    pl = lp.pipeline
    paths = [resolve_data_path(c, pipeline_dir=lp.path.parent) for c in pl.constitution]
    ctx = RunContext(
        pl, tmp_path, lp.path.parent, load_constitution(paths[0]), paths, [], [], [], progress=False
    )
    return canonical(label_stage(ctx, 1).config)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_label_fingerprint_of_a_shipped_pipeline_is_unchanged(name: str, tmp_path: Path) -> None:
    assert _label_config(name, [], tmp_path) == PINNED[name]


def test_label_fingerprint_with_judge_keys_set_is_unchanged(tmp_path: Path) -> None:
    assert _label_config("gpu-7b-dpo.yaml", OVERRIDES, tmp_path) == PINNED_OVERRIDDEN
