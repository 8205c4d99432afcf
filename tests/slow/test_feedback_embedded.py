"""The embedded SmolLM2 end to end: 2 responses for 4 smoke prompts, labelled under hhh with k=2."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.constitution import load_constitution
from rlaif.feedback.inputs import load_prompts
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset
from rlaif.feedback.responses import GenerateConfig, generate_responses
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_generate_and_label_with_the_embedded_model(embedded_model_dir: Path, tmp_path: Path) -> None:
    import json

    import datasets

    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(embedded_model_dir, device="cpu", dtype="float32", progress=False)
    prompts = load_prompts(ROOT / "data" / "prompts" / "smoke.jsonl")[:4]
    sets = generate_responses(
        backend, prompts, GenerateConfig(n=2, max_new_tokens=24, temperature=0.8, seed=1, progress=False)
    )
    assert all(len(s.responses) == 2 and all(r.strip() for r in s.responses) for s in sets)
    run = label_dataset(
        sets,
        load_constitution(ROOT / "principles" / "hhh.yaml"),
        backend,
        TemplateSet.load(),
        LabelConfig(k=2, progress=False),
    )
    write_label_run(run, tmp_path / "labels")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "labels" / "data.parquet"))["train"]
    assert ds.num_rows + run.stats["unlabeled"] == 4
    assert ds.num_rows >= 3
    for row in ds:
        assert 0.5 <= row["p_chosen"] < 1.0
        for j in json.loads(row["judgements"]):
            assert 0.0 < j["p_ab"] < 1.0 and 0.0 < j["p_ba"] < 1.0
            assert 0.3 < j["mass_ab"] <= 1.0  # the answer prefix puts most next-token mass on "A"/"B"
    stats = run.stats
    assert stats["critic"]["judgements"] == 2 * ds.num_rows
    assert 0.0 <= stats["critic"]["position_bias_rate"] <= 1.0
    assert "## Constitution" in (tmp_path / "labels" / "README.md").read_text()
    backend.close()
