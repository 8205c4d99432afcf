"""docs/glossary.md's table of stages names a job and a function that exist, for every command that runs a stage."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
ROW = re.compile(r"^\| `rlaif ([^`]+)` \| `([\w.]+)\.(\w+)`[^|]*\| `(\w+)`", re.M)


def test_every_job_and_function_in_the_table_exists() -> None:
    rows = ROW.findall(GLOSSARY.read_text(encoding="utf-8"))
    assert len(rows) >= 15
    for command, module, job, function in rows:
        loaded = importlib.import_module(module)
        assert hasattr(loaded, job), f"{command}: {module}.{job} does not exist"
        assert hasattr(loaded, function), f"{command}: {module}.{function} does not exist"


def test_every_stage_command_is_in_the_table() -> None:
    from tests.unit.cli.test_every_command_config import COMMANDS, NO_CONFIG

    listed = {command for command, *_ in ROW.findall(GLOSSARY.read_text(encoding="utf-8"))}
    stage_commands = {name for name in COMMANDS if name.split(" ")[0] not in NO_CONFIG}
    serves = {"serve-reward"}  # a server (its options are ServerSettings' fields), not a stage that ends
    assert stage_commands - serves - listed == set()
