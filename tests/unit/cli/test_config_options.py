"""Options generated from a config: one field, one flag, the field's default and description (rlaif.cli.config_options)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Literal

import pytest
import typer
from pydantic import Field, InstanceOf
from typer.testing import CliRunner

from rlaif.cli import label as cli_label
from rlaif.cli.config_options import Form, comma_pair, config_group, config_options, job_options, one_option
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.strict import StrictConfig


class Toy(StrictConfig):
    """A config with one field of each kind the generator handles."""

    k: int = Field(default=4, ge=1, description="principles per pair")
    mode: Literal["a", "b"] = Field(default="a", description="which mode")
    tags: tuple[str, ...] | None = Field(default=None, description="only these tags")
    ratio: float = Field(default=0.5, description="a ratio")
    on: bool = Field(default=True, description="switched on")
    name: str | None = Field(default=None, description="an optional name")
    clamp: tuple[float, float] = Field(default=(0.4, 0.6), description="a clamp")
    hidden: int = Field(default=7, description="not on the command line")


def _app(seen: list[Toy]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @config_options(
        Toy,
        command="toy",
        flags={"k": ("-k", "--k")},
        forms={
            "clamp": Form(
                "clamp", typer.Option("--clamp", help="LOW,HIGH"), str, "0.4,0.6", comma_pair("--clamp")
            )
        },
        skip={"hidden"},
        fixed={"hidden": 9},
    )
    def toy(out: Annotated[str, typer.Option("--out")] = "o", *, config: Toy) -> None:
        assert out == "x"
        seen.append(config)

    return app


def test_every_field_is_an_option_with_its_default_and_description() -> None:
    seen: list[Toy] = []
    runner = CliRunner()
    r = runner.invoke(_app(seen), ["--out", "x"])
    assert r.exit_code == 0, r.output
    assert seen == [Toy(hidden=9)]
    r = runner.invoke(
        _app(seen),
        [
            "--out",
            "x",
            "-k",
            "2",
            "--mode",
            "b",
            "--tags",
            "p",
            "--tags",
            "q",
            "--ratio",
            "0.25",
            "--no-on",
            "--name",
            "n",
            "--clamp",
            "0.3,0.7",
        ],
    )
    assert r.exit_code == 0, r.output
    assert seen[-1] == Toy(
        k=2, mode="b", tags=("p", "q"), ratio=0.25, on=False, name="n", clamp=(0.3, 0.7), hidden=9
    )
    help_text = CliRunner().invoke(_app([]), ["--help"]).output
    for description in ("principles per pair", "which mode", "only these tags", "switched on", "LOW,HIGH"):
        assert description in help_text
    assert "not on the command line" not in help_text


def test_a_bad_value_names_the_flag() -> None:
    with pytest.raises(RlaifError) as e:
        typer.main.get_command(_app([])).main(["--out", "x", "-k", "0", "--mode", "c"], standalone_mode=False)
    fields = [p.field for p in e.value.problems]
    assert fields == ["--k", "--mode"]
    assert "greater than or equal to 1" in e.value.problems[0].message


def test_the_label_command_offers_every_label_field_with_its_description() -> None:
    params = inspect.signature(cli_label.command).parameters
    forms = {form.param: field for field, form in cli_label.FORMS.items()}
    offered = {forms.get(name, name) for name in params}
    assert set(LabelConfig.model_fields) - offered == set(cli_label.PIPELINE_ONLY)
    helps = {p.name: p.help for p in typer.main.get_command(_label_app()).params}
    for field in ("min_confidence", "verdict_samples", "keep_ties", "judge_mode"):
        assert helps[field] == LabelConfig.model_fields[field].description


def _label_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(cli_label.command)
    return app


class ToyJob(StrictConfig):
    """A job: paths, a nested config, a value a group builds and one a command derives."""

    source: Path | InstanceOf[Toy] = Field(description="a file (or, from Python, a loaded object)")
    out: Path = Field(description="output folder")
    limit: int | None = Field(default=None, ge=1, description="first N only")
    ids: tuple[str, ...] = Field(default=(), description="ids to use")
    who: str = Field(default="nobody", description="built by a group")
    cache: Path | None = Field(default=None, description="derived from the others")
    config: Toy = Field(default_factory=Toy, description="the nested config")


def _job_app(seen: list[ToyJob]) -> typer.Typer:
    app = typer.Typer()

    def command(*, job: ToyJob) -> None:
        seen.append(job)

    app.command()(
        job_options(
            ToyJob,
            command="toy",
            defaults={"out": Path("out/toy")},
            flags={"ids": ("--id",)},
            groups={
                "who": one_option("person", str, "ann", help="the person", build=str.upper),
                "config": config_group(
                    Toy, flags={"k": ("-k", "--k")}, skip={"hidden": "no flag", "clamp": "no flag"}
                ),
            },
            derive={"cache": lambda values: values["out"] / f"{values['who']}.sqlite"},
        )(command)
    )
    app.command("other")(lambda: None)  # two commands: options are not mistaken for a subcommand
    return app


def test_job_options_build_the_job_from_fields_groups_and_derived_values() -> None:
    seen: list[ToyJob] = []
    app = _job_app(seen)
    result = CliRunner().invoke(
        app,
        ["command", "--source", "a.yaml", "-n", "3", "--id", "x", "--id", "y", "--person", "bo", "-k", "2"],
    )
    assert result.exit_code == 0, result.output
    assert seen == [
        ToyJob(
            source=Path("a.yaml"),
            out=Path("out/toy"),
            limit=3,
            ids=("x", "y"),
            who="BO",
            cache=Path("out/toy/BO.sqlite"),
            config=Toy(k=2),
        )
    ]
    root = typer.main.get_command(app)
    params = {p.name: p for p in root.get_command(root.context_class(root), "command").params}
    assert params["source"].help == "a file (or, from Python, a loaded object)" and params["source"].required
    assert params["out"].default == Path("out/toy") and "-o" in params["out"].opts
    assert "-n" in params["limit"].opts and params["person"].default == "ann"


def test_job_options_name_the_flag_of_a_bad_value_and_refuse_a_second_default() -> None:
    seen: list[ToyJob] = []
    result = CliRunner().invoke(_job_app(seen), ["command", "--source", "a.yaml", "-n", "0"])
    assert result.exit_code != 0 and seen == []
    assert isinstance(result.exception, RlaifError) and "--limit" in str(result.exception.format())
    with pytest.raises(TypeError, match="has a default of its own"):
        job_options(ToyJob, command="toy", defaults={"limit": 5})
