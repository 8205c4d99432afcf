"""How long `rlaif inspect` takes on a labels dataset of 1,000 pairs (10 principles, k = 4 per pair).

    python benchmarks/bench_inspect.py [--pairs 1000] [--principles 10] [-k 4]

Claim: inspecting 1,000 labels (reading data.parquet, every per-principle rate, the principle x principle
matrix, conflicts and all intervals) takes at most 10 s. The labels are synthetic but shaped like `rlaif label`
output: some principles follow a hidden preference, two are near-copies, one is mostly position bias, and a third
of the principles carry a rule. The RESULT line fails when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0


def synthetic_rows(pairs: int, principles: int, k: int, seed: int = 0) -> list[dict[str, object]]:
    """Label rows with the columns `rlaif inspect` reads (pair_id, judgements, p_chosen, a_is_chosen)."""
    rng = random.Random(seed)
    refs = [f"p{j:02d}@1" for j in range(principles)]
    rows = []
    for i in range(pairs):
        truth = rng.random() < 0.5  # the hidden "A is better"
        drawn = rng.sample(range(principles), k)
        judgements = []
        p_sum = 0.0
        for j in drawn:
            if j == 0:  # mostly position bias: the first letter in both orders
                p_ab, p_ba = 0.8 + 0.1 * rng.random(), 0.1 + 0.1 * rng.random()
            else:
                follows = truth if j != 2 else not truth  # p02 tends to disagree with the rest
                base = 0.5 + (0.3 if follows else -0.3) * rng.random()
                p_ab = min(max(base + rng.gauss(0, 0.05), 0.0), 1.0)
                p_ba = min(max(base + rng.gauss(0, 0.05), 0.0), 1.0)
            rec: dict[str, object] = {"principle": refs[j], "p_ab": p_ab, "p_ba": p_ba, "source": "critic"}
            if j % 3 == 1:
                a_passes = rng.random() < (0.8 if truth else 0.2)
                rec["rule"] = {"a_passed": a_passes, "b_passed": not a_passes}
            judgements.append(rec)
            p_sum += 0.5 * (p_ab + p_ba)
        p_a = p_sum / k
        rows.append(
            {
                "pair_id": f"prompt-{i}:0-1",
                "judgements": json.dumps(judgements, sort_keys=True),
                "p_chosen": max(p_a, 1 - p_a),
                "a_is_chosen": p_a >= 0.5,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--principles", type=int, default=10)
    parser.add_argument("-k", type=int, default=4)
    args = parser.parse_args()

    from rlaif.feedback.dataset_io import write_rows
    from rlaif.workbench.inspection import inspect_labels
    from rlaif.workbench.labels import read_label_table

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "labels"
        write_rows(folder, synthetic_rows(args.pairs, args.principles, args.k))
        start = time.perf_counter()
        table = read_label_table(folder)
        read_s = time.perf_counter() - start
        result = inspect_labels(table)
        total = time.perf_counter() - start
    print(
        f"labels: {args.pairs} pairs, {args.principles} principles, k={args.k} ({result.judgements} judgements)"
    )
    print("| phase                 | seconds |\n|-----------------------|---------|")
    print(f"| read data.parquet     | {read_s:7.3f} |\n| measures + intervals  | {total - read_s:7.3f} |")
    print(f"| total                 | {total:7.3f} |")
    print(
        f"flags: position-biased {[s.principle for s in result.position_biased]}, "
        f"top conflict {[f'{c.first} vs {c.second}' for c in result.conflicts[:1]]}"
    )
    verdict = "pass" if total <= TARGET_SECONDS else "fail"
    print(f"RESULT bench_inspect seconds={total:.3f} target=<={TARGET_SECONDS:g} {verdict}")
    return 0 if verdict == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
