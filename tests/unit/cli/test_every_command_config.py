"""Every command that runs a stage takes its options from the stage's config: no default or help can drift.

A command's options come from its config through :func:`rlaif.cli.config_options.config_options` (and the shared
groups of :mod:`rlaif.cli._common`), which record the configs on the command. This test walks every registered
command: one that runs a stage must have recorded a config, and no option it writes by hand may share a name with
a field of its configs and differ from that field's default.
"""

from __future__ import annotations

import inspect

import pytest

from rlaif.cli.lazy_group import command_callbacks
from rlaif.cli.main import SUBCOMMANDS, app

#: commands that run no stage config (they read or show files), and why
NO_CONFIG = {
    "validate": "checks files; has no stage config",
    "ls": "lists shipped files",
    "render": "renders one template",
    "import-constitution": "converts a file",
    "status": "reads a run folder",
    "report": "renders a run folder",
    "inspect": "reads a labels folder",
    "version": "prints the version",
    "run": "runs a pipeline file, whose sections are the configs",
    "export": "copies a trained folder",
}


COMMANDS = dict(command_callbacks(app, SUBCOMMANDS))


def test_the_walk_finds_the_commands() -> None:
    assert {"generate", "label", "version"} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_stage_command_takes_its_options_from_its_config(name: str) -> None:
    callback = COMMANDS[name]
    configs = getattr(callback, "__rlaif_configs__", ())
    if name.split(" ")[0] in NO_CONFIG:
        assert not configs or name == "run", f"{name} is listed as having no config, but has {configs}"
        return
    assert configs, f"rlaif {name} builds its options by hand: generate them from its config (config_options)"
    generated = {pname for _, mapping, _ in configs for pname in mapping}
    drift = {}
    for pname, param in inspect.signature(callback).parameters.items():
        if pname in generated or param.default is inspect.Parameter.empty:
            continue
        default = getattr(param.default, "default", param.default)
        for config, _, other_form in configs:
            info = config.model_fields.get(pname)
            if info is None or info.is_required() or pname in other_form:
                continue  # (a field a group builds, like a job's critic, is offered in another form)
            expected = info.get_default(call_default_factory=True)
            if (list(expected) if isinstance(expected, tuple) else expected) != default:
                drift[f"{config.__name__}.{pname}"] = (default, expected)
    assert drift == {}, f"rlaif {name}: hand-written options whose default differs from the config's"


def test_generated_defaults_are_the_config_defaults() -> None:
    for name, callback in COMMANDS.items():
        params = inspect.signature(callback).parameters
        for config, mapping, forms in getattr(callback, "__rlaif_configs__", ()):
            for pname, field in mapping.items():
                info = config.model_fields[field]
                if info.is_required() or pname in forms:
                    continue  # a Form converts its value; tests/unit/cli/test_config_options.py covers it
                expected = info.get_default(call_default_factory=True)
                got = params[pname].default
                assert got == (list(expected) if isinstance(expected, tuple) else expected), (name, pname)
