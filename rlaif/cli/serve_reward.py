"""``rlaif serve-reward``: an HTTP reward server backed by a reward model or a critic.

    rlaif serve-reward --reward-model runs/x/reward/model -c principles/hhh.yaml -k 2 --port 8000
    rlaif serve-reward --critic smollm2 --mode pointwise --principle helpful --port 8000

Speaks OpenRLHF's remote reward-model protocol (``POST /get_reward``; pass ``--remote_rm_url
http://HOST:PORT/get_reward``) and rlaif's JSON API (``POST /v1/rewards``); ``GET /health``. Requests from
concurrent clients are batched; the queue is bounded (503 when full). See docs/interop.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt, model_options, parse_backend_options
from rlaif.cli.config_options import Form, config_options
from rlaif.rewards.server_settings import ServerSettings

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


def command(
    reward_model: Annotated[
        Path | None, typer.Option("--reward-model", help="Exported reward-model folder (rlaif train-rm).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option("--mode", help="Critic judgement: pointwise (1-10 score) or pairwise (vs 'reference')."),
    ] = "pointwise",
    constitution: Annotated[
        Path | None,
        typer.Option("--constitution", "-c", help="Constitution YAML [default: shipped hhh.yaml]."),
    ] = None,
    principle: Annotated[
        list[str] | None,
        typer.Option("--principle", help="Fixed principle id (repeatable); default: sample -k."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Principles sampled per prompt (when not fixed).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the per-prompt principle draws.")] = 0,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Reward model: (reward - mean) / std of its training rewards.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8000,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    *,
    critic: ModelSpec | None,
    settings: ServerSettings,
) -> None:
    """Serve rewards over HTTP (OpenRLHF's remote reward model protocol, and rlaif's JSON API).

    The options from --max-batch on are the server's settings; --device and --dtype load the reward model or a
    local critic."""
    from rlaif.errors import RlaifError
    from rlaif.rewards import reward_function
    from rlaif.rewards.server import RewardServer

    backend = critic.engine if critic else "transformers"
    options = (
        {**parse_backend_options(None, device=device, dtype=dtype, backend=backend), **critic.options}
        if critic
        else None
    )
    fn = reward_function(
        reward_model=reward_model,
        critic=critic.model if critic else None,
        mode=mode,  # type: ignore[arg-type]  # checked by build_scorer
        constitution=constitution,
        principles=principle,
        k=k,
        seed=seed,
        normalize=normalize,
        backend=backend,
        backend_options=options,
        device=device,
        dtype=dtype,
    )
    try:
        server = RewardServer(fn, host=host, port=port, settings=settings)
    except OSError as e:
        raise RlaifError(f"cannot listen on {host}:{port}: {e}", field="--port") from None
    typer.echo(
        f"rlaif reward server ({fn.scorer.name}) on {server.url}: POST /get_reward, POST /v1/rewards, GET /health"
    )
    server.serve_forever()


#: ServerSettings fields offered in another form
FORMS = {
    "max_wait_s": Form(
        "max_wait_ms",
        typer.Option("--max-wait-ms", help="Wait this long (ms) for more requests before scoring a batch."),
        float,
        ServerSettings.model_fields["max_wait_s"].default * 1000.0,
        lambda ms: ms / 1000.0,
    ),
}

command = model_options(
    "critic",
    command="serve-reward",
    default=None,
    help="Or a critic model: alias, local path or hub id.",
    device=False,
)(command)
command = config_options(ServerSettings, command="serve-reward", param="settings", forms=FORMS)(command)
