"""Every configuration model derives from :class:`rlaif.strict.StrictConfig`, and every field says what it is for.

The descriptions are what ``docs/pipelines.md``, ``--help`` and a pipeline validation error show the user; a field
without one is a field the user has to read the source for.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import rlaif
from rlaif.strict import StrictConfig

ROOT = Path(rlaif.__file__).parent

#: modules that need an optional extra (vllm, ray) or run code when imported
_SKIP = ("vllm", "ray", "__main__")


def _all_configs() -> set[type[StrictConfig]]:
    for info in pkgutil.walk_packages(rlaif.__path__, "rlaif."):
        if not any(s in info.name for s in _SKIP):
            importlib.import_module(info.name)
    found: set[type[StrictConfig]] = set()
    todo = [StrictConfig]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("rlaif."):
                found.add(sub)
            todo.append(sub)
    return found


def test_every_config_field_is_described() -> None:
    configs = _all_configs()
    assert len(configs) >= 20, "the config models were not found"
    missing = sorted(
        f"{c.__module__}.{c.__name__}.{name}"
        for c in configs
        for name, info in c.model_fields.items()
        if not (info.description or "").strip()
    )
    assert missing == []


def test_no_module_defines_its_own_strict_base() -> None:
    """Strictness lives in one place: no module sets ``extra="forbid"`` on a model of its own."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "strict.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).endswith("ConfigDict")
                and any(k.arg == "extra" and ast.unparse(k.value) == "'forbid'" for k in node.keywords)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    allowed = {"constitution/schema.py"}  # constitution files: strict, plus whitespace kept verbatim
    assert sorted(o for o in offenders if o.split(":")[0] not in allowed) == []


def test_keyword_construction_names_the_bad_field() -> None:
    import pytest

    from rlaif.policy.ppo_config import PPOConfig
    from rlaif.strict import ConfigError
    from rlaif.training.config import OptimSettings

    with pytest.raises(ConfigError) as e:
        OptimSettings(lr=-1.0, nosuch=2)
    fields = [p.field for p in e.value.problems]
    assert fields == ["lr", "nosuch"]
    assert "greater than 0" in e.value.problems[0].message and "-1.0" in e.value.problems[0].message
    assert e.value.problems[1].message == "unknown field of OptimSettings"
    # a nested model's error keeps its full path
    with pytest.raises(ConfigError) as e:
        PPOConfig(prompts="p.jsonl", output_dir="o", reward={"rules": {}}, optim={"lr": 0})
    assert "optim.lr" in [p.field for p in e.value.problems]


def test_model_validate_keeps_pydantic_errors_for_file_loaders() -> None:
    import pytest
    from pydantic import ValidationError

    from rlaif.training.config import OptimSettings

    with pytest.raises(ValidationError) as e:
        OptimSettings.model_validate({"lr": 0})
    assert e.value.errors()[0]["loc"] == ("lr",)


def test_from_shared_passes_every_setting_of_the_same_name_and_given_wins() -> None:
    from pydantic import Field

    class Stage(StrictConfig):
        seed: int = Field(default=0, description="seed")
        k: int = Field(default=4, description="k")
        mode_of_stage: str = Field(default="x", description="a field the part does not have")

    class Part(StrictConfig):
        seed: int = Field(default=1, description="seed")
        k: int = Field(default=2, description="k")
        mode: str = Field(default="auto", description="a field the stage names otherwise")
        other: bool = Field(default=False, description="a field the stage lacks")

    part = Part.from_shared(Stage(seed=7, k=3, mode_of_stage="v"), mode="v", k=5)
    assert part == Part(seed=7, k=5, mode="v", other=False)


def test_stage_configs_hand_their_judge_settings_on() -> None:
    from rlaif.evals.agreement_report import AgreementConfig
    from rlaif.feedback.label_config import LabelConfig

    label = LabelConfig(
        seed=11,
        chain_of_thought=True,
        cot_clamp=(0.3, 0.7),
        cot_max_new_tokens=99,
        both_orders=False,
        min_choice_mass=0.2,
        judge_mode="verdict",
        top_logprobs=7,
        verdict_samples=3,
        verdict_temperature=0.5,
        markers="K,Q",
        batch_calibration=True,
    )
    judge = label.judge_config()
    assert (judge.seed, judge.chain_of_thought, judge.cot_clamp, judge.cot_max_new_tokens) == (
        11,
        True,
        (0.3, 0.7),
        99,
    )
    assert (judge.both_orders, judge.min_choice_mass, judge.mode, judge.top_logprobs) == (
        False,
        0.2,
        "verdict",
        7,
    )
    assert (judge.verdict_samples, judge.verdict_temperature, judge.markers) == (3, 0.5, ("K", "Q"))
    assert judge.batch_calibration is True
    assert judge.template == "compare"  # the label config has no template of its own: JudgeConfig's default

    agreement = AgreementConfig(
        template="compare_cot", seed=5, judge_mode="top-logprobs", min_choice_mass=0.4
    )
    judge = agreement.judge_config()
    assert (judge.template, judge.seed, judge.mode, judge.min_choice_mass, judge.both_orders) == (
        "compare_cot",
        5,
        "top-logprobs",
        0.4,
        True,
    )
