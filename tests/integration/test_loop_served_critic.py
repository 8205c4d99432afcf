"""Two rounds with each role on its own backend: a local transformers policy (with its round-1 adapter in round 2)
judged by a critic behind an OpenAI-compatible server that has no /completions (the stub, top-logprobs mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.backends._http_stub import StubServer
from rlaif.backends._stub_shapes import make_shape
from rlaif.errors import RlaifError
from rlaif.loop import load_pipeline, run_pipeline

PROMPTS = [
    ("p1", "Explain rain.", "train"),
    ("p2", "Say hello.", "train"),
    ("p3", "Name a color.", "train"),
    ("p4", "Describe a cat.", "train"),
    ("p5", "Give a tip.", "heldout"),
    ("p6", "Count to three.", "heldout"),
]


def _pipeline(tmp: Path, model: Path, url: str) -> Path:
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t, "split": s}) + "\n" for i, t, s in PROMPTS))
    p = tmp / "served.yaml"
    p.write_text(
        f"""
name: served
rounds: 2
models:
  policy: "{model}"
  device: cpu
  critic:
    backend: openai
    model: stub-model
    options: {{base_url: "{url}", max_retries: 0, input_price_per_mtok: 1.0, output_price_per_mtok: 2.0}}
constitution: principles/style.yaml
prompts: {{files: ["{prompts}"]}}
generate: {{n: 2, max_new_tokens: 10}}
label: {{k: 1, judge_mode: top-logprobs, gate: {{enabled: false}}, keep_ties: true}}  # a stub critic: the gate would stop it
policy:
  method: dpo
  dpo:
    max_length: 64
    max_prompt_length: 32
    lora: {{r: 4, alpha: 8}}
    optim: {{lr: 1.0e-3, schedule: constant}}
    run: {{batch_size: 2, epochs: 1}}
evaluate:
  settings: {{max_new_tokens: 8, principles: [concise], kl: false}}
"""
    )
    return p


def test_two_rounds_with_a_local_policy_and_a_served_critic(tiny_model_dir: Path, tmp_path: Path) -> None:
    with StubServer(make_shape("openai_chat"), max_lifetime=900) as server:
        spec = _pipeline(tmp_path, tiny_model_dir, server.url)
        summary = run_pipeline(load_pipeline(spec), runs_dir=tmp_path / "runs", progress=False)
        stages = [(t.round, t.stage) for t in summary.timings]
        assert stages == [(k, s) for k in (1, 2) for s in ("generate", "label", "policy", "evaluate")]
        # the critic only ever got chat requests; the policy's adapter never went to it
        paths = {r.path for r in server.requests}
        assert "/v1/chat/completions" in paths
        assert not any(
            r.body and "adapter" in json.dumps(r.body) for r in server.requests if r.method == "POST"
        )
    for k in (1, 2):
        stats = json.loads((tmp_path / "runs" / "served" / f"round-{k}" / "label" / "stats.json").read_text())
        assert stats["judge_mode"] == "top-logprobs"
        assert stats["labeled"] == 4 and stats["unlabeled"] == 0
        usage = stats["critic_usage"]
        assert usage["requests"] > 0 and usage["estimated_cost"] > 0
        card = (tmp_path / "runs" / "served" / f"round-{k}" / "label" / "README.md").read_text()
        assert "estimated critic cost" in card


def test_a_served_policy_cannot_take_an_adapter(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rlaif.loop.context import RunContext
    from rlaif.loop.pipeline import Pipeline

    pl = Pipeline.model_validate(
        {
            "name": "x",
            "constitution": ["principles/style.yaml"],
            "prompts": {"files": ["p.jsonl"]},
            "models": {"policy": {"backend": "openai", "model": "served-policy"}},
        }
    )
    # the critic defaults to the policy's model on the policy's backend; the reward base to the policy's model
    assert pl.role("policy").backend == "openai" and pl.role("critic").backend == "openai"
    assert pl.role("reward").backend == "transformers" and pl.role("reward").model == "served-policy"
    ctx = SimpleNamespace(pipeline=pl)
    policy = RunContext.model_spec(ctx, "policy", adapter=tmp_path)  # type: ignore[arg-type]
    assert policy.adapter == str(tmp_path)
    with pytest.raises(RlaifError, match="cannot load the adapter"):
        policy.backend_options("policy")
    assert "adapter" not in RunContext.model_spec(ctx, "critic").backend_options("critic")  # type: ignore[arg-type]
