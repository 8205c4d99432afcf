"""Wall time of whole runs: the shipped ``smoke`` and ``quickstart`` pipelines on the embedded model, cold
(fresh run folder, empty call cache), with the time per stage and the quickstart's outcome.

Targets (issue 18): smoke ≤ 4 minutes; the main job (quickstart: contrastive pairs → DPO, graded by rules training
never read on 64 held-out prompts) ≤ 8 minutes on 2 CPU cores, with a held-out all-rules compliance gain of at least
+15 points whose 95% interval's lower bound is above 0. Printed too: the untrained model with / without the positive
system prompt (the ceiling), the SFT-on-positive-answers baseline, and the critic's win rate only where its measured
agreement with people beats chance. ``rules`` (the older rule-label run) can be timed with ``--only rules``.

Run::

    python benchmarks/bench_loop.py                 # smoke and quickstart
    python benchmarks/bench_loop.py --only quickstart
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"smoke": 240.0, "quickstart": 480.0, "rules": 1200.0}
GAIN_TARGET = 0.15


def _cpu() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(name: str, runs: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        "rlaif",
        "run",
        str(ROOT / "pipelines" / f"{name}.yaml"),
        "--runs-dir",
        str(runs),
    ]
    t0 = time.perf_counter()
    done = subprocess.run([*cmd, "--no-progress"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stderr[-4000:])
        raise SystemExit(f"{name} failed")
    return seconds


def _stages(run_dir: Path) -> list[tuple[int, str, float]]:
    out = []
    for manifest in sorted(run_dir.glob("round-*/*/manifest.json")):
        m = json.loads(manifest.read_text())
        out.append((int(m["round"]), str(m["stage"]), float(m.get("seconds") or 0.0)))
    order = [
        "generate",
        "label",
        "revise",
        "reward",
        "policy",
        "ceiling",
        "sft-baseline",
        "evaluate",
        "evaluate-sft-baseline",
    ]
    return sorted(out, key=lambda r: (r[0], order.index(r[1]) if r[1] in order else 99))


def _extras(run_dir: Path, last: int) -> None:
    """The report's one-sentence result, the ceiling, the SFT baseline and the critic (only when justified)."""
    from rlaif.report.rundir import read_run
    from rlaif.report.verdict import critic_justified, result_sentence

    run = read_run(run_dir)
    print(result_sentence(run))
    ceiling = run_dir / "round-1" / "ceiling" / "ceiling.json"
    if ceiling.is_file():
        c = json.loads(ceiling.read_text())
        for side in [x for x in ("none", "positive", "negative") if x in c]:
            a = c[side]["compliance"]["all"]
            print(
                f"untrained, system prompt {side:<8}: all rules {a['value']:.1%} [{a['low']:.1%}, {a['high']:.1%}], "
                f"cut {c[side]['cut']:.0%}, {c[side]['mean_words']} words"
            )
    sft = run_dir / f"round-{last}" / "evaluate-sft-baseline" / "eval.json"
    if sft.is_file():
        ev = json.loads(sft.read_text())
        a = next(x for x in ev["compliance"] if x["principle"] == "all")
        print(f"SFT on positive answers: all rules {a['after']['value']:.1%}, gain {a['gain']['value']:+.1%}")
    ok, why = critic_justified(run)
    ev = json.loads((run_dir / f"round-{last}" / "evaluate" / "eval.json").read_text())
    wr = ev["win_rate"]["constitution"]
    if ok and wr:
        e = wr["win_rate"]
        print(f"critic-judged win rate vs base: {e['value']:.1%} [{e['low']:.1%}, {e['high']:.1%}]")
    else:
        print(f"critic win rate not shown: {why}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(TARGETS), default=None)
    args = ap.parse_args()
    import torch
    import transformers

    print(f"# bench_loop  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, load before {os.getloadavg()[0]:.2f}")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [args.only] if args.only else ["smoke", "quickstart"]:
            runs = Path(tmp) / name
            seconds = _run(name, runs)
            run_dir = runs / name
            print(f"\n## {name}: {seconds:.1f} s end to end")
            print("| round | stage | seconds |\n|---|---|---|")
            for k, stage, s in _stages(run_dir):
                print(f"| {k} | {stage} | {s:.1f} |")
            results.append((name, seconds))
            if name == "quickstart":
                last = max(int(p.name.split("-")[1]) for p in run_dir.glob("round-*"))
                ev = json.loads((run_dir / f"round-{last}" / "evaluate" / "eval.json").read_text())
                rows = {c["principle"]: c for c in ev["compliance"]}
                allc = rows.get("all") or next(iter(rows.values()))
                before, after, gain = allc["before"], allc["after"], allc["gain"]
                print(
                    f"\nround {last} vs base, held-out rule compliance (all rules): {before['value']:.1%} -> "
                    f"{after['value']:.1%}, gain {gain['value']:+.1%} [{gain['low']:+.1%}, {gain['high']:+.1%}] "
                    f"(n={ev['n_prompts']})"
                )
                for pid, c in rows.items():
                    print(f"  {pid:<16} {c['before']['value']:.1%} -> {c['after']['value']:.1%}")
                _extras(run_dir, last)
                results.append(("quickstart_compliance_gain", gain["value"]))
                # a gain is claimed only when its interval's lower bound is above 0, not the point estimate
                results.append(("quickstart_compliance_gain_low", gain["low"]))
    print()
    for name, value in results:
        if name in TARGETS:
            ok = value <= TARGETS[name]
            print(
                f"RESULT bench_loop {name}_seconds={value:.1f} target=<={TARGETS[name]:.0f} {'pass' if ok else 'fail'}"
            )
        elif name.endswith("_low"):
            print(f"RESULT bench_loop {name}={value:.3f} target=>0 {'pass' if value > 0 else 'fail'}")
        else:
            ok = value >= GAIN_TARGET
            print(f"RESULT bench_loop {name}={value:.3f} target=>={GAIN_TARGET} {'pass' if ok else 'fail'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
