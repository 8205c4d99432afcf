"""How long `import rlaif` and `rlaif --help` take, next to a bare Python start (the floor).

    python benchmarks/bench_cli_startup.py [--quick]

Claim: `rlaif --help` answers in under 1 s because torch/transformers load only when a model is used.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeats: int) -> float:
    """Median wall-clock seconds of running ``cmd``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 10")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    rlaif = shutil.which("rlaif") or sys.executable
    help_cmd = (
        [rlaif, "--help"] if rlaif != sys.executable else [sys.executable, "-m", "rlaif.cli.main", "--help"]
    )
    rows = [
        ("python -c pass (floor)", wall([sys.executable, "-c", "pass"], repeats)),
        ("python -c 'import rlaif'", wall([sys.executable, "-c", "import rlaif"], repeats)),
        ("rlaif --help", wall(help_cmd, repeats)),
        ("rlaif validate --help", wall([*help_cmd[:-1], "validate", "--help"], repeats)),
    ]
    print(f"{'command':<30} {'median s':>9}")
    for name, t in rows:
        print(f"{name:<30} {t:>9.3f}")
    help_s = rows[2][1]
    print(
        f"RESULT bench_cli_startup help_seconds={help_s:.3f} target=<1.0 {'pass' if help_s < 1.0 else 'fail'}"
    )


if __name__ == "__main__":
    main()
