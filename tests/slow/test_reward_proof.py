"""Proof that the reward model learns and can be steered (embedded SmolLM2-135M, CPU, a few minutes).

Responses are built so that two rule-carrying principles of the shipped style constitution disagree: in every pair one
response is a full sentence and the other a bare fragment (`substantive`: a length bound, min_words 5), and exactly
one of them shouts with exclamation marks (`no_exclamations`: a forbidden pattern), independently of which is longer.
Pairs are labelled by the rules alone (`label_source="rules"`, one principle per pair), so under `substantive` the
sentence wins and under `no_exclamations` the calm response wins — the same pair can go either way, and only the
principle in the input tells which. Training uses negation augmentation. Held-out prompts must reach ≥ 90%
accuracy under their principle, and ≥ 80% of held-out cases must flip under the principle's negation.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from rlaif.constitution import Constitution, load_constitution
from rlaif.resources import shipped_dir

PRINCIPLES = ("substantive", "no_exclamations")

_SENTENCES = (
    "The short answer is that it depends on the details you have.",
    "Most people find that a little practice each day works well.",
    "You can start with the simplest option and adjust it later.",
    "It usually takes about ten minutes if you follow the steps.",
    "The main thing to watch is the temperature at the start.",
    "A good first step is to write down what you already know.",
    "This works because the parts fit together in a simple way.",
    "Try the plain version first, then change one thing at a time.",
)
_FRAGMENTS = (
    "Yes.",
    "Depends.",
    "Not really.",
    "Maybe so.",
    "Ten minutes.",
    "Practice.",
    "It varies.",
    "Sure.",
)


def _shout(text: str, rng: random.Random) -> str:
    text = text.rstrip(".")
    return text + rng.choice(("!", "!!", "! Really!", "!!!"))


def build_pairs(prompts: list, seed: int = 0) -> list:
    """One pair per prompt: a sentence and a fragment; exactly one of them shouts."""
    from rlaif.feedback.responses import ResponseSet

    sets = []
    for row in prompts:
        rng = random.Random(int(hashlib.sha256(f"{seed}:{row.id}".encode()).hexdigest()[:12], 16))
        sentence, fragment = rng.choice(_SENTENCES), rng.choice(_FRAGMENTS)
        if rng.random() < 0.5:
            sentence = _shout(sentence, rng)
        else:
            fragment = _shout(fragment, rng)
        pair = [sentence, fragment] if rng.random() < 0.5 else [fragment, sentence]
        sets.append(ResponseSet(row, tuple(pair), ("stop", "stop"), 0, "synthetic", "1"))
    return sets


def rule_labels(prompts: list, out: Path, seed: int = 0) -> Path:
    """Label the synthetic pairs with the two principles' rules (k=1), as `rlaif label --label-source rules` does."""
    from rlaif.feedback import LabelConfig, label_dataset, write_label_run
    from rlaif.prompting import TemplateSet

    style = load_constitution(shipped_dir("principles") / "style.yaml")
    two = Constitution(
        name=style.name, version=style.version, principles=tuple(style.get(p) for p in PRINCIPLES)
    )
    run = label_dataset(
        build_pairs(prompts, seed),
        two,
        None,
        TemplateSet.load(),
        LabelConfig(k=1, label_source="rules", seed=seed, progress=False),
    )
    assert len(run.rows) == len(prompts)
    assert all(r["p_chosen"] == 1.0 for r in run.rows)  # both principles decide every pair
    write_label_run(run, out)
    return out


@pytest.mark.slow
def test_reward_model_learns_rules_and_flips_under_negation(embedded_model_dir: Path, tmp_path: Path) -> None:
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
    train_labels = rule_labels(train_prompts, tmp_path / "train-labels")
    test_labels = rule_labels(test_prompts, tmp_path / "test-labels")
    style = shipped_dir("principles") / "style.yaml"

    config = RewardConfig(
        data=train_labels,
        constitution=style,
        output_dir=tmp_path / "rm",
        model=str(embedded_model_dir),
        max_length=160,
        val_fraction=0.0,
        augment=AugmentSettings(negation_prob=0.5),
        # LoRA on the top layers only: the backward pass stops there, which halves the CPU time of a step
        lora=LoraSettings(r=16, alpha=32, target_modules=TOP_LAYERS),
        norm_stats_max_responses=16,
        optim=OptimSettings(lr=1e-3, warmup_ratio=0.1, schedule="cosine"),
        run=RunSettings(batch_size=8, epochs=EPOCHS, device="cpu", save_every=1000, seed=0),
    )
    result = train_reward_model(config, progress=False)
    rm = RewardModel.load(result.model_dir, device="cpu")
    report = evaluate_reward_model(
        rm, RewardEvalConfig(labels=test_labels, constitution=style, batch_size=16)
    )
    print(report.to_markdown())
    assert report.labels is not None and report.steering is not None
    assert report.labels.n == 30
    assert report.labels.accuracy.value >= 0.90
    assert report.steering.flip_rate.value >= 0.80


EPOCHS = 3
#: every linear layer of the top 10 of SmolLM2-135M's 30 decoder layers
TOP_LAYERS = [
    f"layers.{i}.{m}"
    for i in range(20, 30)
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
