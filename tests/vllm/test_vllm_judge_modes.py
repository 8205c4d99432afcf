"""The judge modes through a real ``vllm serve`` (the vLLM stage): the embedded SmolLM2-135M critic served on loopback.

* ``top-logprobs`` (chat with the answer prefix prefilled, the top 20 tokens) gives the same p as ``choice-logprobs``
  (``/completions`` echo of the rendered prompt) within 1e-3 wherever both choices are among the listed tokens;
* ``verdict`` (written answers, counted) runs on the same server and labels the pairs;
* a two-round pipeline runs with a local transformers policy and this served critic as its critic.

Shares the session's server with test_vllm_stage_backends.py (see vllm_session.py). Numbers are printed (``-s``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Principle

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:  # the default run (.venv) has no vLLM: skip, don't fail
    pytest.skip("vLLM is not installed (run `make test-vllm`)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
HELPFUL = Principle(
    id="helpful", compare="Which response answers the question more helpfully?", critique="c", revision="r"
)


def _session() -> Any:
    name = "rlaif_vllm_test_session"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("vllm_session.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


S = _session()


def _pairs(n: int) -> list[Any]:
    from rlaif.feedback.comparison import Comparison

    path = ROOT / "data/human_labels/trl_format.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:n]
    return [
        Comparison(r["id"], (ChatMessage("user", r["prompt"]),), r["chosen"], r["rejected"], (HELPFUL,))
        for r in rows
    ]


def test_judge_modes_agree_through_vllm_serve() -> None:
    from rlaif.feedback.judge import JudgeConfig, judge_pairs_detailed
    from rlaif.feedback.soft_labels import SoftLabel
    from rlaif.prompting import TemplateSet

    server = S.openai_backend(True)
    templates = TemplateSet.load()
    pairs = _pairs(4)
    by_score = judge_pairs_detailed(
        server, templates, pairs, JudgeConfig(mode="choice-logprobs"), progress=False
    )
    by_top = judge_pairs_detailed(server, templates, pairs, JudgeConfig(mode="top-logprobs"), progress=False)
    by_verdict = judge_pairs_detailed(
        server,
        templates,
        pairs,
        JudgeConfig(mode="verdict", verdict_samples=3, verdict_temperature=0.7, verdict_max_new_tokens=8),
        progress=False,
    )
    compared, max_dp = 0, 0.0
    for s, t in zip(by_score, by_top, strict=True):
        assert isinstance(s.result, SoftLabel), s.result
        if not isinstance(t.result, SoftLabel):
            continue
        js, jt = s.result.judgements[0], t.result.judgements[0]
        for o, (ps, pt) in enumerate(((js.p_ab, jt.p_ab), (js.p_ba, jt.p_ba))):
            if abs(t.choice_mass[0][o] - s.choice_mass[0][o]) < 1e-3:  # both choices were listed
                compared += 1
                max_dp = max(max_dp, abs(ps - pt))
                assert pt == pytest.approx(ps, abs=1e-3)
    verdicts = sum(isinstance(v.result, SoftLabel) for v in by_verdict)
    print(
        f"\nvllm serve, {len(pairs)} pairs: top-logprobs vs choice-logprobs compared on {compared} judgements, "
        f"max |dp| = {max_dp:.2e}; verdict mode labeled {verdicts} of {len(pairs)} pairs"
    )
    assert compared > 0
    assert verdicts > 0


def test_two_rounds_with_a_local_policy_and_a_vllm_served_critic(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from rlaif.loop import load_pipeline, run_pipeline

    srv = S.server()
    srv.wait_ready()
    prompts = tmp_path / "prompts.jsonl"
    rows = [("p1", "Explain rain.", "train"), ("p2", "Say hello.", "train"), ("p3", "Name a color.", "train")]
    rows += [("p4", "Give a tip.", "heldout"), ("p5", "Count to three.", "heldout")]
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t, "split": s}) + "\n" for i, t, s in rows))
    spec = tmp_path / "served.yaml"
    spec.write_text(
        f"""
name: served
rounds: 2
models:
  policy: "{tiny_model_dir}"
  device: cpu
  critic:
    backend: openai
    model: {S.SERVED_NAME}
    options: {{base_url: "{srv.url}", tokenizer: "{S.model_path()}", max_retries: 1}}
constitution: principles/style.yaml
prompts: {{files: ["{prompts}"]}}
generate: {{n: 2, max_new_tokens: 10}}
# the 135M critic fails the gold-set gate by design; this test is about the plumbing, so the gate is off
label: {{k: 1, judge_mode: top-logprobs, gate: {{enabled: false}}, keep_ties: true}}
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
    summary = run_pipeline(load_pipeline(spec), runs_dir=tmp_path / "runs", progress=False)
    stages = [(t.round, t.stage) for t in summary.timings]
    assert stages == [(k, s) for k in (1, 2) for s in ("generate", "label", "policy", "evaluate")]
    for k in (1, 2):
        stats = json.loads((tmp_path / "runs" / "served" / f"round-{k}" / "label" / "stats.json").read_text())
        assert stats["judge_mode"] == "top-logprobs"
        assert stats["labeled"] == 3 and stats["unlabeled"] == 0
        assert stats["critic_usage"]["requests"] > 0
