"""``rlaif eval rm``: accuracy and calibration of a reward model on held-out labels (per principle), agreement with
human labels, and the principle-vs-negation steering check.

    rlaif eval rm --model runs/rm/model --labels out/heldout -c principles/style.yaml -o out/rm-eval
    rlaif eval rm --model runs/rm/model --human data/human_labels/trl_format.jsonl -c principles/hhh.yaml -o out/rm-eval

Every option but ``--model``, ``--out``, ``--device`` and ``--dtype`` is a field of
:class:`rlaif.reward.evaluate.RewardEvalConfig`.
"""

from __future__ import annotations

from rlaif.cli.config_options import config_group, job_options
from rlaif.reward.evaluate import RewardEvalConfig, RewardEvalJob


def command(*, job: RewardEvalJob) -> None:
    """Evaluate a reward model: held-out accuracy and calibration, human agreement, steering by negation."""
    from rlaif.reward.evaluate import run_reward_eval

    result = run_reward_eval(job)
    print(result.report.to_markdown())
    print(f"report: {result.paths['markdown']} (JSON: {result.paths['json']})")


command = job_options(
    RewardEvalJob,
    command="eval rm",
    groups={"config": config_group(RewardEvalConfig, flags={"human_principles": ("--principle", "-p")})},
)(command)
