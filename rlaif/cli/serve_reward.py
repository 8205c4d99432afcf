"""``rlaif serve-reward``: an HTTP reward server backed by a reward model or a critic.

    rlaif serve-reward --reward-model runs/x/reward/model -c principles/hhh.yaml -k 2 --port 8000
    rlaif serve-reward --critic smollm2 --mode pointwise --principle helpful --port 8000

Speaks OpenRLHF's remote reward-model protocol (``POST /get_reward``; pass ``--remote_rm_url
http://HOST:PORT/get_reward``) and rlaif's JSON API (``POST /v1/rewards``); ``GET /health``. Requests from
concurrent clients are batched; the queue is bounded (503 when full). See docs/interop.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import BackendOpt, BackendOptionOpt, DeviceOpt, DtypeOpt, parse_backend_options


def command(
    reward_model: Annotated[
        Path | None, typer.Option("--reward-model", help="Exported reward-model folder (rlaif train-rm).")
    ] = None,
    critic: Annotated[
        str | None, typer.Option("--critic", help="Or a critic model: alias, local path or hub id.")
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
    max_batch: Annotated[int, typer.Option("--max-batch", help="Items scored in one call.")] = 64,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", help="Wait this long for more requests before scoring a batch.")
    ] = 5.0,
    max_queue: Annotated[int, typer.Option("--max-queue", help="Items waiting before 503.")] = 4096,
    max_items: Annotated[int, typer.Option("--max-items", help="Items in one request before 413.")] = 1024,
    unjudged_reward: Annotated[
        float,
        typer.Option("--unjudged-reward", help="OpenRLHF reward of a completion the critic did not judge."),
    ] = 0.0,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Serve rewards over HTTP (OpenRLHF's remote reward model protocol, and rlaif's JSON API)."""
    from rlaif.errors import RlaifError
    from rlaif.rewards import reward_function
    from rlaif.rewards.server import RewardServer, ServerSettings

    if max_batch < 1 or max_queue < 1 or max_items < 1 or max_wait_ms < 0:
        raise RlaifError(
            "--max-batch, --max-queue and --max-items must be >= 1 and --max-wait-ms >= 0",
            field="--max-batch",
        )
    options = (
        parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend) if critic else None
    )
    fn = reward_function(
        reward_model=reward_model,
        critic=critic,
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
    settings = ServerSettings(
        max_batch=max_batch,
        max_wait_s=max_wait_ms / 1000.0,
        max_queue=max_queue,
        max_items=max_items,
        unjudged_reward=unjudged_reward,
    )
    try:
        server = RewardServer(fn, host=host, port=port, settings=settings)
    except OSError as e:
        raise RlaifError(f"cannot listen on {host}:{port}: {e}", field="--port") from None
    typer.echo(
        f"rlaif reward server ({fn.scorer.name}) on {server.url}: POST /get_reward, POST /v1/rewards, GET /health"
    )
    server.serve_forever()
