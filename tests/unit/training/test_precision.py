"""Run-time precision choice (bf16 only where the CPU has native bf16 units) and bf16-vs-fp32 numerics."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.training.precision import cpu_flags, cpu_model, native_bf16_units, resolve_mixed_precision

X86 = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\n"


def test_cpu_flags_parse_x86_arm_and_missing() -> None:
    assert "avx512_bf16" in cpu_flags(X86)
    assert cpu_flags(ARM) == frozenset({"fp", "asimd", "bf16"})
    assert cpu_flags("processor : 0\n") == frozenset()
    assert cpu_model(X86) == "AMD EPYC 9R14"


def test_native_units_need_the_bf16_flags_not_just_avx512() -> None:
    assert native_bf16_units(frozenset({"avx2", "avx512f"})) == []
    assert native_bf16_units(frozenset({"amx_bf16", "amx_tile"})) == ["amx_bf16"]
    assert native_bf16_units(cpu_flags(X86)) == ["avx512_bf16"]


def test_auto_resolves_per_cpu_and_explicit_choices_pass_through() -> None:
    assert resolve_mixed_precision("auto", "cpu", flags=frozenset({"avx2"}))[0] == "no"
    assert resolve_mixed_precision("auto", "cpu", flags=frozenset({"avx512f"}))[0] == "no"
    assert resolve_mixed_precision("auto", "cpu", flags=frozenset({"amx_bf16"}))[0] == "bf16"
    assert resolve_mixed_precision("auto", "cpu", flags=frozenset({"avx512_bf16"}))[0] == "bf16"
    assert resolve_mixed_precision("auto", "mps", flags=frozenset({"amx_bf16"}))[0] == "no"
    for asked in ("no", "bf16", "fp16"):
        assert resolve_mixed_precision(asked, "cpu", flags=frozenset())[0] == asked


def test_run_settings_accept_auto() -> None:
    from rlaif.training.config import RunSettings

    assert RunSettings(mixed_precision="auto").mixed_precision == "auto"
    assert RunSettings().mixed_precision == "no"  # bf16 stays off unless a config asks


def test_bf16_autocast_matches_fp32_on_label_p_and_dpo_loss(tmp_path: Path) -> None:
    """bf16 autocast (emulated where the CPU lacks bf16 units, so this runs anywhere) against fp32 on a tiny model:
    the A-vs-B label probability and the DPO loss move by little."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from rlaif.policy.dpo_loss import preference_loss
    from rlaif.testing.tiny import build_tiny_model_dir
    from rlaif.training.logprobs import token_logprobs

    policy = AutoModelForCausalLM.from_pretrained(build_tiny_model_dir(tmp_path / "p", seed=1)).eval()
    ref = AutoModelForCausalLM.from_pretrained(build_tiny_model_dir(tmp_path / "r", seed=2)).eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 200, (4, 24), generator=gen)
    attn = torch.ones_like(ids)
    resp = torch.zeros_like(ids, dtype=torch.bool)
    resp[:, 12:] = True

    def run(bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            last = policy(input_ids=ids[:, :12]).logits[:, -1].float()
            p_label = torch.softmax(last[:, [7, 8]], dim=-1)[:, 0]  # p(first choice) from two choice tokens
            pol = token_logprobs(policy, ids, attn, resp)[0].float().sum(-1)
            rf = token_logprobs(ref, ids, attn, resp)[0].float().sum(-1)
        loss = preference_loss(pol[0::2], pol[1::2], rf[0::2], rf[1::2], torch.tensor([1.0, 0.7]), beta=0.1)
        return p_label, loss.loss

    p32, l32 = run(False)
    p16, l16 = run(True)
    print(
        f"bf16 vs fp32: max label dp {float((p16 - p32).abs().max()):.2e}, dpo loss d {abs(float(l16) - float(l32)):.2e}"
    )
    assert torch.isfinite(l16)
    assert float((p16 - p32).abs().max()) <= 0.02
    assert abs(float(l16) - float(l32)) <= 0.02


def test_stage_manifest_records_precision(tmp_path: Path) -> None:
    from rlaif.loop.rundir import StageRef, start_manifest
    from rlaif.training.precision import precision_record

    record = precision_record()
    assert set(record) >= {"cpu_model", "cpu_native_bf16", "auto_on_cpu", "auto_reason"}
    assert record["auto_on_cpu"] == ("bf16" if record["cpu_native_bf16"] else "no")
    ref = StageRef(run_dir=tmp_path, round=1, stage="label")
    assert start_manifest(ref, {"x": 1}, {}, attempts=1)["precision"] == record
