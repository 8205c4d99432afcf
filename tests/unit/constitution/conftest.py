"""Helpers for the constitution tests: a valid constitution text and a CLI runner that returns exit code + output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

VALID = """\
name: test
version: 1
description: A small constitution for tests.
principles:
  - id: alpha
    compare: Which response is more helpful?
    critique: Critique the response for helpfulness.
    revision: Revise the response to be more helpful.
    tags: [helpful]
  - id: beta
    weight: 3
    compare: Which response is more honest?
    critique: Critique the response for honesty.
    revision: Revise the response to be more honest.
    negation: Which response is less honest?
    tags: [honest]
    rule:
      max_words: 10
      must_not_match: ["as an ai"]
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def valid_text() -> str:
    return VALID


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``rlaif ARGS...`` in-process through ``rlaif.cli.main.main``; return exit code and captured output."""
    from rlaif.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
