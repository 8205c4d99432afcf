"""``rlaif eval injection``: how often an instruction hidden in a response flips the critic's label, without any
mitigation and under each mitigation, with 95% clustered Wilson intervals (pair = unit).

    rlaif eval injection -c principles/hhh.yaml --critic smollm2 -n 12 -o out/injection
    rlaif eval injection --pairs my_pairs.jsonl --mitigation markers --mitigation defang
"""

from __future__ import annotations

from rlaif.cli._common import CACHE_AS_GIVEN, critic_groups
from rlaif.cli.config_options import config_group, job_options
from rlaif.evals.injection import InjectionConfig
from rlaif.evals.injection_job import InjectionJob


def command(*, job: InjectionJob) -> None:
    """Measure prompt-injection flip rates of the critic: unmitigated vs each mitigation, per injection."""
    from rlaif.evals.injection_job import run_injection

    result = run_injection(job)
    for kind, report in result.reports.items():
        print(f"\n== mitigation: {kind}")
        print(report.table())
    print(f"\nreport: {result.paths['markdown']}")


command = job_options(
    InjectionJob,
    command="eval injection",
    groups={
        **critic_groups(),
        "config": config_group(InjectionConfig, flags={"k": ("-k", "--k"), "mitigations": ("--mitigation",)}),
    },
    derive=CACHE_AS_GIVEN,
)(command)
