"""The ``rlaif`` command.

Each subcommand lives in its own small module under :mod:`rlaif.cli` and is registered from the table below.
Subcommand modules import only light packages at module level: ``rlaif --help`` must not import torch.
"""

from __future__ import annotations

import sys

from rlaif.cli._common import command_group
from rlaif.cli.config_file import make_configurable
from rlaif.errors import RlaifError

#: subcommand name -> module under rlaif.cli exposing ``command`` (a typer command function) or ``app`` (a group);
#: each is imported when its command runs or shows its help (rlaif/cli/lazy_group.py)
SUBCOMMANDS: dict[str, str] = {
    "validate": "validate",
    "ls": "ls",
    "render": "render",
    "import-constitution": "import_constitution",
    "eval": "eval",
    "generate": "generate",
    "label": "label",
    "revise": "revise",
    "score-responses": "score_responses",
    "train-rm": "train_rm",
    "score": "score",
    "train-policy": "train_policy",
    "run": "run",
    "status": "status",
    "report": "report",
    "serve-reward": "serve_reward",
    "export": "export",
    "contrast": "contrast",
    "inspect": "inspect",
    "diff-constitution": "diff_constitution",
    "extract-constitution": "extract_constitution",
}

app = command_group(
    "rlaif",
    "Constitutional self-alignment: constitutions as data, AI feedback, reward models, DPO and PPO.",
    lazy=SUBCOMMANDS,
)


@app.command("version")
def version() -> None:
    """Print the rlaif version."""
    from rlaif import __version__

    print(__version__)


make_configurable(app)  # every command: --config FILE.yaml and --set NAME=VALUE (rlaif/cli/config_file.py)


def _setup_logging() -> None:
    """Show rlaif's INFO logs (what stage runs on what, where output went) on stderr; others' only from WARNING."""
    import logging
    import os

    from rich.console import Console
    from rich.logging import RichHandler

    # under `accelerate launch` / torchrun, INFO from the main process only (the others repeat it)
    default = "INFO" if os.environ.get("RANK", "0") == "0" else "WARNING"
    level = os.environ.get("RLAIF_LOG_LEVEL", default).upper()
    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.getLogger("rlaif").setLevel(level if level in logging.getLevelNamesMapping() else "INFO")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print a paragraph (no traceback) and exit 1."""
    from rich.console import Console

    _setup_logging()
    from rlaif.cli._quiet import quiet_library_deprecations

    args = sys.argv[1:] if argv is None else argv
    helping = any(a in ("--help", "-h") for a in args)  # help stays light: no transformers import
    quiet_library_deprecations(None if helping else next((a for a in args if not a.startswith("-")), None))
    try:
        # in non-standalone mode click returns typer.Exit's code instead of raising it
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int):
            return rc
    except RlaifError as e:
        from rich.markup import escape

        err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # ":train:" is not an emoji
        # escaped: messages hold user text and commands such as pip install 'rlaif[ray]'
        err.print(f"[bold red]error:[/bold red] {escape(e.format())}", markup=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # typer.Exit inside standalone_mode=False
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    except Exception as e:
        # usage errors (bad option values, missing arguments) from click or typer's vendored copy of it:
        # duck-typed, because typer >= 0.29 raises its own exception classes
        show = getattr(e, "show", None)
        if callable(show) and isinstance(getattr(e, "exit_code", None), int):
            show()
            return int(e.exit_code)  # type: ignore[attr-defined]
        if type(e).__name__ == "Abort":
            return 1
        raise
    return 0


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
