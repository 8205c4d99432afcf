"""`import rlaif` and `rlaif --help` stay light: no torch, transformers, vLLM, datasets or Ray at import."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "vllm", "datasets", "peft", "accelerate", "pyarrow", "ray")

PROBE = """
import sys
{body}
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_modules_after(body: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def test_import_rlaif_is_light() -> None:
    assert _heavy_modules_after("import rlaif") == []


def test_cli_help_is_light() -> None:
    body = "from rlaif.cli.main import main\nrc = main(['--help'])\nassert rc == 0, rc"
    assert _heavy_modules_after(body) == []


def test_every_subcommand_help_is_light() -> None:
    from rlaif.cli.main import SUBCOMMANDS

    for name in SUBCOMMANDS:
        body = f"from rlaif.cli.main import main\nrc = main([{name!r}, '--help'])\nassert rc == 0, rc"
        assert _heavy_modules_after(body) == [], name


def test_user_error_exits_1_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rlaif.cli.main", "validate", "/nonexistent/constitution.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "/nonexistent/constitution.yaml" in proc.stderr + proc.stdout


def test_top_level_names_resolve_lazily() -> None:
    import rlaif

    light = "import rlaif\nfor ns in rlaif._LAZY.values():\n    for n in ns: assert n in dir(rlaif)\nrlaif.load_constitution; rlaif.judge_pair"
    assert _heavy_modules_after(light) == []
    for name in (n for names in rlaif._LAZY.values() for n in names):
        assert callable(getattr(rlaif, name)), name
    assert rlaif.train_dpo.__module__ == "rlaif.policy.dpo"
