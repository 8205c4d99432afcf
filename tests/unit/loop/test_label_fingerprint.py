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


def test_a_later_label_field_enters_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    import json

    one_order = json.loads(_label_config("gpu-7b-dpo.yaml", ["label.both_orders=false"], tmp_path))
    assert one_order == {**json.loads(PINNED["gpu-7b-dpo.yaml"]), "both_orders": False}


def test_the_run_sets_the_label_seed_and_progress_a_file_may_not() -> None:
    from rlaif.errors import DataFileError

    for key in ("seed", "progress"):
        with pytest.raises(DataFileError, match=f"label.{key} is set by the run"):
            load_pipeline(shipped_dir("pipelines") / "smoke.yaml", [f"label.{key}=1"])


def test_round_label_config_takes_the_round_seed_and_keeps_random_markers_fixed(tmp_path: Path) -> None:
    from rlaif.feedback.remedies import parse_markers
    from rlaif.loop.stages import _round_label_config

    lp = load_pipeline(shipped_dir("pipelines") / "gpu-7b-dpo.yaml", ["label.markers=random", "seed=5"])
    paths = [resolve_data_path(c, pipeline_dir=lp.path.parent) for c in lp.pipeline.constitution]
    ctx = RunContext(
        lp.pipeline, tmp_path, None, load_constitution(paths[0]), paths, [], [], [], progress=False
    )
    first, second = _round_label_config(ctx, 1), _round_label_config(ctx, 2)
    assert (first.seed, second.seed, first.progress) == (6, 7, False)
    # the letters are drawn with the pipeline's seed, as before: the same in every round
    assert first.judge_config().markers == second.judge_config().markers == parse_markers("random", 5)
    assert first.chain_of_thought and first.batch_pairs == 64
