"""``evaluate_policy`` end to end on tiny random models (policy = tiny base + a perturbed LoRA adapter), and its
refusals of bad input before any model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.errors import DataFileError, ModelError, RlaifError
from rlaif.evals.policy_eval import EVAL_FORMAT, PolicyEvalConfig, default_eval_cache, evaluate_policy

ROOT = Path(__file__).resolve().parents[3]
STYLE = ROOT / "principles/style.yaml"


def _prompts(path: Path, n: int, split: str = "heldout") -> Path:
    rows = [
        {"id": f"p{i}", "prompt": f"Question number {i}: say something short.", "split": split}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on the tiny model whose B matrices are non-zero, so the policy differs from the base."""
    import torch

    from rlaif.policy.model import load_policy
    from rlaif.training import LoraSettings, export_model

    policy = load_policy(str(tiny_model_dir), lora=LoraSettings(r=4, alpha=8), device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return export_model(policy.model, policy.tokenizer, tmp_path_factory.mktemp("adapter") / "model")


def _config(tiny_model_dir: Path, prompts: Path, **kw: object) -> PolicyEvalConfig:
    base = {
        "prompts": prompts,
        "constitution": STYLE,
        "principles": ["no_filler", "no_exclamations"],
        "model": str(tiny_model_dir),
        "critic": str(tiny_model_dir),
        "backend_options": {"device": "cpu"},
        "critic_backend_options": {"device": "cpu"},
        "max_new_tokens": 12,
        "bootstrap_resamples": 200,
    }
    base.update(kw)
    return PolicyEvalConfig.model_validate(base)


def test_evaluate_policy_writes_eval_and_samples(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    config = _config(tiny_model_dir, _prompts(tmp_path / "p.jsonl", 4), cache=tmp_path / "cache.sqlite")
    out = tmp_path / "eval"
    result = evaluate_policy(config, policy_adapter=adapter_dir, out_dir=out, progress=False)
    doc = json.loads((out / "eval.json").read_text())
    assert doc["format"] == EVAL_FORMAT
    assert doc["n_prompts"] == 4
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["p0", "p1", "p2", "p3"]
    # the perturbed adapter changes the responses, so the critic was asked about them
    assert any(s["policy"] != s["baseline"] for s in samples)
    wr = doc["win_rate"]["constitution"]
    assert wr["n"] == 4 - sum(s["unlabeled_reason"] is not None for s in samples)
    assert wr["wins"] + wr["ties"] + wr["losses"] == wr["n"]
    assert wr["win_rate"]["value"] == pytest.approx((wr["wins"] + 0.5 * wr["ties"]) / wr["n"])
    assert wr["win_rate"]["low"] <= wr["win_rate"]["value"] <= wr["win_rate"]["high"]
    assert set(doc["win_rate"]["per_principle"]) == {"no_filler@1", "no_exclamations@1"}
    # every principle of style.yaml carries a rule: compliance for each, plus all
    assert [c["principle"] for c in doc["compliance"]][-1] == "all"
    assert len(doc["compliance"]) == 9
    assert doc["kl"]["estimator"] == "greedy"
    # the KL monitor: log-ratio of each policy response is policy − base log-prob, nonzero for a changed model
    assert any(abs(s["log_ratio"]) > 0 for s in samples)
    assert doc["drift"]["length_words"]["policy"]["mean"]["n"] == 4
    assert doc["timing"]["seconds"]["total"] > 0
    assert result.win_rates["constitution"].n == wr["n"]

    # a second evaluation against the same base reads the base model's calls from the cache (the loop's rounds)
    from rlaif.feedback.call_cache import CallCache

    before = len(CallCache(tmp_path / "cache.sqlite"))
    evaluate_policy(config, policy_adapter=adapter_dir, out_dir=tmp_path / "again", progress=False)
    assert len(CallCache(tmp_path / "cache.sqlite")) == before
    assert (tmp_path / "again" / "samples.jsonl").read_bytes() == (out / "samples.jsonl").read_bytes()


def test_same_model_as_baseline_is_all_ties(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = _config(tiny_model_dir, _prompts(tmp_path / "p.jsonl", 3), use_cache=False, kl=False)
    result = evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "e", progress=False)
    wr = result.win_rates["constitution"]
    assert (wr.wins, wr.ties, wr.losses) == (0, 3, 0)
    assert wr.win_rate.value == 0.5
    assert result.identical == 3
    assert result.kl is None


def test_zero_heldout_prompts_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = _config(tiny_model_dir, _prompts(tmp_path / "p.jsonl", 3, split="train"))
    with pytest.raises(DataFileError, match="no held-out prompts") as e:
        evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "e", progress=False)
    assert "splits in the file: train" in str(e.value)
    assert e.value.problem.path == str(tmp_path / "p.jsonl")


def test_bad_baseline_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = _prompts(tmp_path / "p.jsonl", 2)
    config = _config(tiny_model_dir, prompts, baseline=str(tmp_path / "nowhere"))
    with pytest.raises(
        ModelError, match=r"the baseline cannot be loaded: adapter folder .* does not exist"
    ) as e:
        evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "e", progress=False)
    assert "use 'base'" in (e.value.hint or "")
    (tmp_path / "notadapter").mkdir()
    config = _config(tiny_model_dir, prompts, baseline=str(tmp_path / "notadapter"))
    with pytest.raises(ModelError, match=r"no adapter_config\.json"):
        evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "e", progress=False)


def test_bad_base_model_and_principle(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = _prompts(tmp_path / "p.jsonl", 2)
    with pytest.raises(RlaifError, match="no principle 'nope'"):
        evaluate_policy(
            _config(tiny_model_dir, prompts, principles=["nope"]), policy_adapter=None, out_dir=tmp_path / "e"
        )
    with pytest.raises(ModelError, match="the policy model cannot be loaded"):
        evaluate_policy(
            _config(tiny_model_dir, prompts, model=str(tmp_path / "missing-model")),
            policy_adapter=None,
            out_dir=tmp_path / "e",
            progress=False,
        )


def test_config_forbids_unknown_fields(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="extra"):
        PolicyEvalConfig.model_validate({"prompts": "p.jsonl", "constitution": "c.yaml", "max_tokens": 3})


def test_default_cache_is_run_wide_inside_a_run_directory(tmp_path: Path) -> None:
    assert default_eval_cache(tmp_path / "runs/x/round-2/evaluate") == (
        tmp_path / "runs/x/.rlaif-cache.sqlite"
    )
    assert default_eval_cache(tmp_path / "out/eval") == (tmp_path / "out/.rlaif-cache.sqlite")


def _gold(path: Path) -> Path:
    rows = [
        {"id": f"g{i}", "prompt": f"Question {i}?", "chosen": "A short answer.", "rejected": "Wrong!!! " * 3}
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(("min_accuracy", "judged"), [(0.0, True), (1.0, False)])
def test_critic_gate_decides_whether_win_rates_are_measured(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path, min_accuracy: float, judged: bool
) -> None:
    gate = {"gold": str(_gold(tmp_path / "gold.jsonl")), "k": 1, "min_accuracy": min_accuracy}
    config = _config(tiny_model_dir, _prompts(tmp_path / "p.jsonl", 3), critic_gate=gate, use_cache=False)
    out = tmp_path / "eval"
    result = evaluate_policy(config, policy_adapter=adapter_dir, out_dir=out, progress=False)
    doc = json.loads((out / "eval.json").read_text())
    recorded = doc["labeler"]["critic_gate"]
    assert recorded["n"] == 4 and recorded["passed"] is judged
    assert result.critic_gate == recorded
    if judged:  # a lower bound >= 0 always passes: the pairs are judged as without a gate
        assert doc["win_rate"]["skipped"] is None
        assert doc["win_rate"]["constitution"] is not None
        assert doc["labeler"]["critic_on_these_pairs"]["judgements"] > 0
    else:  # no critic reaches a lower bound of 100% on 4 pairs: no win rate, and the reason says why
        assert doc["win_rate"]["constitution"] is None and doc["win_rate"]["per_principle"] == {}
        skipped = doc["win_rate"]["skipped"]
        assert skipped.startswith("critic gate: ") and f" fails on the gold set {gate['gold']} (" in skipped
        assert skipped.endswith("the lower 95% bound must reach 100%")
        assert doc["labeler"]["critic_on_these_pairs"]["judgements"] == 0
    # the rule-based grading does not depend on the critic
    assert [c["principle"] for c in doc["compliance"]][-1] == "all"


def test_missing_gold_file_is_refused_before_any_model_loads(tmp_path: Path) -> None:
    gate = {"gold": str(tmp_path / "no-such-gold.jsonl")}
    config = _config(tmp_path / "no-such-model", _prompts(tmp_path / "p.jsonl", 2), critic_gate=gate)
    with pytest.raises(DataFileError, match=r"no-such-gold\.jsonl: file not found"):
        evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "eval", progress=False)


def test_human_agreement_judges_as_the_win_rates_do(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The human pairs are judged with the evaluation's judge mode and template, by the whole constitution (not the
    principles the win rates were restricted to)."""
    config = _config(
        tiny_model_dir,
        _prompts(tmp_path / "p.jsonl", 2),
        human_labels=ROOT / "data/human_labels/trl_format.jsonl",
        human_limit=3,
        human_k=1,
        judge_mode="choice-logprobs",
    )
    result = evaluate_policy(config, policy_adapter=None, out_dir=tmp_path / "e", progress=False)
    human = result.to_dict()["labeler"]["human_agreement"]
    assert human["n_pairs"] == 3
    assert human["config"]["judge_mode"] == "choice-logprobs"
    assert human["config"]["principles"] == ()
    assert human["config"]["k"] == 1 and human["config"]["seed"] == config.seed
