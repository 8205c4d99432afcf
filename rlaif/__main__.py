"""``python -m rlaif`` = the ``rlaif`` command."""

from rlaif.cli.main import entrypoint

entrypoint()
