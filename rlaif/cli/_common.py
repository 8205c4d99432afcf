"""Options and helpers every model-using subcommand shares, so they read and behave the same.

* ``--backend`` / ``--backend-option key=value`` (repeatable; values read as YAML/JSON scalars or lists, else text) /
  ``--device`` / ``--dtype``: how the model runs.
* ``--cache PATH`` / ``--no-cache``: the call cache, by default ``<out>/../.rlaif-cache.sqlite`` so the stages of one
  workspace (generate, label, revise, eval) share it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlaif.errors import RlaifError

BackendOpt = Annotated[
    str, typer.Option("--backend", "-b", help="Backend: transformers, vllm, openai or mock.")
]
BackendOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--backend-option",
        help="key=value passed to the backend (repeat), e.g. batch_size=16 or base_url=http://127.0.0.1:8000/v1.",
    ),
]
JudgeModeOpt = Annotated[
    str,
    typer.Option(
        "--judge-mode",
        help="How the critic judges: auto (the best its backend supports), choice-logprobs, top-logprobs or "
        "verdict (docs/backends.md).",
    ),
]
PriceOpt = Annotated[
    str | None,
    typer.Option(
        "--price",
        help="Prices per million input and output tokens of a served critic, IN,OUT (e.g. 0.15,0.6): the "
        "estimated cost goes into the stats, the card and the report.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1 (local backends).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16, float16 (local backends).")]
CacheOpt = Annotated[
    Path | None,
    typer.Option("--cache", help="Call cache file (SQLite) [default: <out>/../.rlaif-cache.sqlite]."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the call cache.")]
TemplatesOpt = Annotated[
    Path | None,
    typer.Option("--templates", "-t", help="Template folder searched before the shipped prompts/."),
]
CriticOpt = Annotated[
    str, typer.Option("--critic", help="Critic model: alias (smollm2), hub id or local folder.")
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="local (this process) or ray (a Ray actor pool; docs/scaling.md).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address", help="Ray cluster (HOST:PORT, auto, ray://HOST:PORT) [default: a local Ray instance]."
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", help="Ray workers, each with its own copy of the model.")
]
GpusPerWorkerOpt = Annotated[float, typer.Option("--gpus-per-worker", help="GPUs per Ray worker (0 on CPU).")]
CpusPerWorkerOpt = Annotated[float, typer.Option("--cpus-per-worker", help="CPUs per Ray worker.")]


def parse_backend_options(
    items: list[str] | None, *, device: str = "auto", dtype: str = "auto", backend: str
) -> dict[str, Any]:
    """``--backend-option`` pairs (values read by :func:`rlaif.overrides.parse_value`) plus ``--device``/``--dtype`` for local engines."""
    options: dict[str, Any] = {}
    if backend in ("transformers", "vllm"):
        if device != "auto" and backend == "transformers":
            options["device"] = device
        if dtype != "auto":
            options["dtype"] = dtype
    from rlaif.overrides import parse_override

    for item in items or []:
        path, value = parse_override(
            item,
            what="backend option",
            field="--backend-option",
            hint="e.g. --backend-option batch_size=16",
            lenient=True,
        )
        options[".".join(path)] = value
    return options


def parse_price(text: str | None) -> dict[str, float]:
    """``--price IN,OUT`` → the backend options ``input_price_per_mtok`` / ``output_price_per_mtok``."""
    if text is None:
        return {}
    try:
        pin, pout = (float(x) for x in text.split(","))
    except ValueError:
        raise RlaifError(
            f"bad --price {text!r}", field="--price", hint="write IN,OUT per million tokens, e.g. 0.15,0.6"
        ) from None
    if pin < 0 or pout < 0:
        raise RlaifError("prices must be >= 0", field="--price")
    return {"input_price_per_mtok": pin, "output_price_per_mtok": pout}


def cache_path(out: Path, cache: Path | None, no_cache: bool) -> Path | None:
    """The call cache to use for a stage writing into ``out`` (None when disabled)."""
    from rlaif.feedback.call_cache import default_cache_path

    return None if no_cache else (cache or default_cache_path(out))


def parse_field_map(items: list[str] | None) -> dict[str, str]:
    """``["prompt=question", "id=qid"]`` → ``{"prompt": "question", "id": "qid"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise RlaifError(
                f"bad field mapping {item!r}",
                field="--field",
                hint="write OUR=THEIRS, e.g. --field prompt=question",
            )
        if ours.strip() not in ("prompt", "id", "split"):
            raise RlaifError(
                f"unknown field {ours.strip()!r} in --field", field="--field", hint="map prompt, id or split"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def ray_options(
    executor: str,
    *,
    address: str | None,
    workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
) -> Any:
    """The :class:`rlaif.scale.RayOptions` for ``--executor ray`` (None for ``local``); Ray is not imported here."""
    if executor not in ("local", "ray"):
        raise RlaifError(f"unknown executor {executor!r}", field="--executor", hint="local or ray")
    if executor == "local":
        if address is not None:
            raise RlaifError("--address is for --executor ray", field="--address", hint="add --executor ray")
        return None
    from rlaif.scale import RayOptions

    return RayOptions(
        address=address, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker
    )
