"""``rlaif export``: a trained policy or reward model as a portable folder (adapter or merged), or a hub push.

    rlaif export runs/x/policy/model -o export/policy                    # the adapter, base named by hub id
    rlaif export runs/x/reward/model -o export/rm --merge                 # merged weights, plain transformers
    rlaif export runs/x/policy/model -o export/policy --push-to-hub me/my-policy --private

``base_model_name_or_path`` (and the card's ``base_model``) is the base's hub id, never a path on this machine; the
embedded default's id is HuggingFaceTB/SmolLM2-135M-Instruct (rlaif embeds its Q4_1 quantisation, dequantised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    model: Annotated[
        Path, typer.Argument(help="Model folder from rlaif train-policy or train-rm (<run>/model).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    merge: Annotated[bool, typer.Option("--merge", help="Fold the adapter into the base weights.")] = False,
    base_model: Annotated[
        str | None,
        typer.Option("--base-model", help="Hub id to name as the base [default: found from the base]."),
    ] = None,
    base_path: Annotated[
        str | None,
        typer.Option("--base-path", help="Where to load the base from to merge [default: as trained]."),
    ] = None,
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", help="Upload the folder to this hub model repo.")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the hub repo private.")] = False,
) -> None:
    """Export a policy or reward model: adapter (default), merged weights, or a hub push with its card."""
    from rlaif.models.exporter import export_artifact

    path = export_artifact(
        model,
        out,
        merge=merge,
        base_model=base_model,
        base_path=base_path,
        push_to_hub=push_to_hub,
        private=private,
    )
    typer.echo(f"exported to {path}" + (f" and pushed to {push_to_hub}" if push_to_hub else ""))
