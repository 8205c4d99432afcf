"""Proof that the reward model learns a rule and can be steered by its principle (embedded SmolLM2-135M, CPU).

Pairs are labelled by a rule of the shipped style constitution (`label_source="rules"`, no critic): under
`no_exclamations` (rule: the response must not match "!") a calm sentence beats the same sentence ending in
exclamation marks. Each pair differs only in the ruled property, and held-out pairs use prompts *and* sentences never
seen in training. Training uses contrastive negation pairs: every pair is also shown, in the same batch, under the
principle's negation text with the label flipped, so ranking by the response alone is no better than chance: the model
has to read the principle. On the held-out pairs, scored and measured by rlaif's own evaluation (`evaluate_reward_model`), accuracy
under the principle must be ≥ 90% and ≥ 80% of the pairs must swap order under the principle's negation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import pytest

from rlaif.constitution import Constitution, load_constitution
from rlaif.resources import shipped_dir

PRINCIPLE = "no_exclamations"

#: training responses; the held-out pairs use _HELD_OUT_SENTENCES only
_TRAIN_SENTENCES = (
    "The short answer is that it depends on the details you have.",
    "Most people find that a little practice each day works well.",
    "You can start with the simplest option and adjust it later.",
    "It usually takes about ten minutes if you follow the steps.",
    "The main thing to watch is the temperature at the start.",
    "A good first step is to write down what you already know.",
    "This works because the parts fit together in a simple way.",
    "Try the plain version first, then change one thing at a time.",
    "Ask someone who has done it before, they will save you time.",
    "Keep a note of what you tried so you can compare the results.",
    "Soak it in warm water for an hour and then rinse it well.",
    "The cheaper model is fine unless you need the extra storage.",
)
_HELD_OUT_SENTENCES = (
    "Check the label first, since the instructions vary by brand.",
    "Leave it overnight and look again in the morning.",
    "Most shops will take it back within thirty days.",
    "Start small and add more once you see how it goes.",
    "The weather decides most of it, so plan a second day.",
    "Use a soft cloth and a little soap, nothing stronger.",
)
_SHOUTS = ("!", "!!", "! Really!", "!!!")


def build_pairs(prompts: list, sentences: tuple[str, ...], *, seed: int, per_prompt: int = 1) -> list:
    """``per_prompt`` pairs per prompt: a calm sentence and the same sentence shouted, in random order."""
    from rlaif.feedback.responses import ResponseSet

    sets = []
    for k in range(per_prompt):
        for row in prompts:
            row = row if k == 0 else dataclasses.replace(row, id=f"{row.id}-{k}")
            rng = random.Random(int(hashlib.sha256(f"{seed}:{row.id}".encode()).hexdigest()[:12], 16))
            calm = rng.choice(sentences)
            loud = calm.rstrip(".") + rng.choice(_SHOUTS)
            pair = (calm, loud) if rng.random() < 0.5 else (loud, calm)
            sets.append(ResponseSet(row, pair, ("stop", "stop"), 0, "synthetic", "1"))
    return sets


def rule_labels(response_sets: list, out: Path, seed: int = 0) -> Path:
    """Label the pairs with the principle's rule, as `rlaif label --label-source rules` does."""
    from rlaif.feedback import LabelConfig, label_dataset, write_label_run
    from rlaif.prompting import TemplateSet

    style = load_constitution(shipped_dir("principles") / "style.yaml")
    one = Constitution(name=style.name, version=style.version, principles=(style.get(PRINCIPLE),))
    run = label_dataset(
        response_sets,
        one,
        None,
        TemplateSet.load(),
        LabelConfig(k=1, label_source="rules", seed=seed, progress=False),
    )
    assert len(run.rows) == len(response_sets)
    assert all(r["p_chosen"] == 1.0 for r in run.rows)  # the rule decides every pair
    # conversational rows: chosen/rejected are one assistant message each
    assert all("!" not in r["chosen"][0]["content"] and "!" in r["rejected"][0]["content"] for r in run.rows)
    write_label_run(run, out)
    return out


@pytest.mark.slow
def test_reward_model_learns_rule_and_flips_under_negation(embedded_model_dir: Path, tmp_path: Path) -> None:
    from rlaif.feedback import load_prompts
    from rlaif.reward import (
        RewardConfig,
        RewardEvalConfig,
        RewardModel,
        evaluate_reward_model,
        train_reward_model,
    )
    from rlaif.reward.config import AugmentSettings
    from rlaif.training import LoraSettings, OptimSettings, RunSettings

    data = shipped_dir("data") / "prompts"
    prompts = load_prompts(data / "everyday.jsonl") + load_prompts(data / "style.jsonl")
    ordered = sorted(prompts, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    test_prompts, train_prompts = ordered[:30], ordered[30:]
    train_labels = rule_labels(
        build_pairs(train_prompts, _TRAIN_SENTENCES, seed=0, per_prompt=2), tmp_path / "train-labels"
    )
    test_labels = rule_labels(
        build_pairs(test_prompts, _HELD_OUT_SENTENCES, seed=1), tmp_path / "test-labels"
    )
    style = shipped_dir("principles") / "style.yaml"

    config = RewardConfig(
        data=train_labels,
        constitution=style,
        output_dir=tmp_path / "rm",
        model=str(embedded_model_dir),
        max_length=128,
        val_fraction=0.0,
        augment=AugmentSettings(negation_pairs=True),
        # LoRA on the top layers only: the backward pass stops there, which keeps a CPU step cheap
        lora=LoraSettings(r=16, alpha=32, target_modules=TOP_LAYERS),
        norm_stats_max_responses=16,
        optim=OptimSettings(lr=2e-3, warmup_ratio=0.1, schedule="cosine"),
        run=RunSettings(batch_size=4, max_steps=STEPS, epochs=10, device="cpu", save_every=1000, seed=0),
    )
    result = train_reward_model(config, progress=False)
    assert result.steps == STEPS
    rm = RewardModel.load(result.model_dir, device="cpu")
    report = evaluate_reward_model(
        rm, RewardEvalConfig(labels=test_labels, constitution=style, batch_size=16)
    )
    print(report.to_markdown())
    assert report.labels is not None and report.steering is not None
    assert report.labels.n == 30 and report.steering.n == 30
    assert report.labels.accuracy.value >= 0.90
    assert report.steering.flip_rate.value >= 0.80


#: optimiser steps of 4 pairs, each seen under the principle and its negation (140 training pairs)
STEPS = 30
#: every linear layer of the top 8 of SmolLM2-135M's 30 decoder layers
TOP_LAYERS = [
    f"layers.{i}.{m}"
    for i in range(22, 30)
    for m in (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )
]
