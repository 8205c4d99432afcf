"""Options and helpers every model-using subcommand shares, so they read and behave the same.

* ``--backend`` / ``--backend-option key=value`` (repeatable; values read as YAML/JSON scalars or lists, else text) /
  ``--device`` / ``--dtype``: how the model runs.
* ``--cache PATH`` / ``--no-cache``: the call cache, by default ``<out>/../.rlaif-cache.sqlite`` so the stages of one
  workspace (generate, label, revise, eval) share it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rlaif.cli.config_options import OptionGroup, flag, option, with_options
from rlaif.errors import RlaifError

F = TypeVar("F", bound=Callable[..., Any])

#: the help of each shared option, written once
HELP = {
    "backend": "Backend: transformers, vllm, openai or mock.",
    "backend_option": "key=value passed to the backend (repeat), e.g. batch_size=16 or "
    "base_url=http://127.0.0.1:8000/v1.",
    "price": "Prices per million input and output tokens of a served critic, IN,OUT (e.g. 0.15,0.6): the "
    "estimated cost goes into the stats, the card and the report.",
    "device": "auto, cpu, cuda, cuda:1 (local backends).",
    "dtype": "auto, float32, bfloat16, float16 (local backends).",
    "cache": "Call cache file (SQLite) [default: <out>/../.rlaif-cache.sqlite].",
    "no_cache": "Do not read or write the call cache.",
    "critic": "Critic model: alias (smollm2), hub id or local folder.",
    "executor": "local (this process) or ray (a Ray actor pool; docs/scaling.md).",
}

DeviceOpt = Annotated[str, typer.Option("--device", help=HELP["device"])]
DtypeOpt = Annotated[str, typer.Option("--dtype", help=HELP["dtype"])]
TemplatesOpt = Annotated[
    Path | None,
    typer.Option("--templates", "-t", help="Template folder searched before the shipped prompts/."),
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


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


def parse_field_map(field: list[str] | None) -> dict[str, str]:
    """``["prompt=question", "id=qid"]`` → ``{"prompt": "question", "id": "qid"}``."""
    mapping: dict[str, str] = {}
    for item in field or []:
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


def command_group(name: str, help: str, *, lazy: Mapping[str, str] | None = None) -> typer.Typer:
    """A typer app for ``rlaif`` or one of its groups, set up alike: no completion, plain help, no rich tracebacks
    (errors are printed by :func:`rlaif.cli.main.main`).

    ``lazy`` names the group's subcommands (name → module under :mod:`rlaif.cli` exposing ``command`` or ``app``),
    each imported when used (:mod:`rlaif.cli.lazy_group`).
    """
    from rlaif.cli.lazy_group import lazy_group_class

    app = typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        cls=lazy_group_class(lazy or {}),
    )
    app.callback()(_group)  # a group even with one registered command (the others load lazily)
    return app


def _group() -> None:
    """(The group's own options: none.)"""


# --- option groups: the blocks of options that several commands share, each built into one value ---------------


@dataclass(frozen=True)
class CacheChoice:
    """``--cache PATH`` / ``--no-cache`` as given; :meth:`under` resolves it for a stage writing into a folder."""

    path: Path | None
    off: bool

    def under(self, out: Path) -> Path | None:
        """The call cache of a stage writing into ``out`` (None when ``--no-cache``)."""
        return cache_path(out, self.path, self.off)


def cache_group() -> OptionGroup:
    """``--cache`` and ``--no-cache``, built into a :class:`CacheChoice`."""
    return OptionGroup(
        (
            option("cache", Path | None, None, help=HELP["cache"]),
            option("no_cache", bool, False, help=HELP["no_cache"]),
        ),
        lambda cache, no_cache: CacheChoice(cache, no_cache),
        {},
    )


def cache_under_out(values: Mapping[str, Any]) -> Path | None:
    """A job's ``cache`` field from the command's values: ``--cache``, else (unless ``--no-cache``) the cache
    beside ``--out``."""
    choice: CacheChoice = values["cache"]
    return choice.under(values["out"])


#: a job that resolves its shared call cache itself: the file as given (``cache``) and whether to use one
CACHE_AS_GIVEN: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "cache": lambda values: values["cache"].path,
    "use_cache": lambda values: not values["cache"].off,
}


def local_engine_options() -> tuple[inspect.Parameter, inspect.Parameter]:
    """``--device`` and ``--dtype``: where and in which precision a local backend runs."""
    return option("device", str, "auto", help=HELP["device"]), option(
        "dtype", str, "auto", help=HELP["dtype"]
    )


def critic_backend_option() -> inspect.Parameter:
    """``--critic-backend-option key=value`` (repeatable): options of the critic's own backend."""
    return option(
        "critic_backend_option",
        list[str] | None,
        None,
        help="key=value for the critic's backend (repeat), e.g. base_url=... or input_price_per_mtok=0.15.",
    )


def critic_groups(*, price: bool = False) -> dict[str, OptionGroup]:
    """The critic's options (``--critic``, default smollm2, and its backend's) and the call cache's, as the
    ``critic`` and ``cache`` groups of :func:`rlaif.cli.config_options.job_options`."""
    return {
        "critic": model_group("critic", default="smollm2", help=HELP["critic"], price=price),
        "cache": cache_group(),
    }


def model_group(
    role: str,
    *,
    default: str | None,
    help: str,
    short: tuple[str, ...] = (),
    price: bool = False,
    device: bool = True,
) -> OptionGroup:
    """``--<role>`` (the model) with ``--backend``, ``--backend-option``, ``--device`` and ``--dtype`` (and
    ``--price`` for a served critic), built into one :class:`rlaif.backends.spec.ModelSpec` (None when the model
    flag has no default and is not given)."""
    params = [
        option(role, str if default is not None else str | None, default, flag(role), *short, help=help),
        option("backend", str, "transformers", "--backend", "-b", help=HELP["backend"]),
        option("backend_option", list[str] | None, None, help=HELP["backend_option"]),
    ]
    if device:
        params.extend(local_engine_options())
    if price:
        params.append(option("price", str | None, None, help=HELP["price"]))

    def build(**kw: Any) -> Any:
        from rlaif.backends.spec import ModelSpec

        if kw[role] is None:
            return None
        backend = kw["backend"]
        options = parse_backend_options(
            kw["backend_option"],
            device=kw.get("device", "auto"),
            dtype=kw.get("dtype", "auto"),
            backend=backend,
        )
        options.update(parse_price(kw.get("price")))
        return ModelSpec(model=kw[role], backend=backend, options=options)

    return OptionGroup(tuple(params), build, {"model": flag(role)})


def model_options(role: str, *, command: str, **group: Any) -> Callable[[F], F]:
    """:func:`model_group`'s options on a command whose ``role`` parameter receives the spec."""
    return with_options(model_group(role, **group), param=role, command=command)


def policy_and_critic_group() -> OptionGroup:
    """``--policy`` and ``--critic`` on the shared ``--backend``, ``--backend-option``, ``--device`` and
    ``--dtype``, and the critic's own ``--critic-backend`` / ``--critic-backend-option``, built into the two
    :class:`rlaif.backends.spec.ModelSpec` (policy, critic).

    The critic runs on the policy's backend and options unless ``--critic-backend`` names another backend; its
    ``--critic-backend-option`` pairs go on top of the options of the backend it runs on.
    """
    params = (
        option("policy", str, "smollm2", help="Policy model: alias, hub id or local folder."),
        option("critic", str, "smollm2", help="Critic model (critiques, checks)."),
        option("backend", str, "transformers", "--backend", "-b", help=HELP["backend"]),
        option("backend_option", list[str] | None, None, help=HELP["backend_option"]),
        option(
            "critic_backend",
            str | None,
            None,
            help="The critic's own backend [default: --backend]; e.g. openai.",
        ),
        critic_backend_option(),
        *local_engine_options(),
    )

    def build(**kw: Any) -> tuple[Any, Any]:
        from rlaif.backends.spec import ModelSpec

        backend, critic_backend = kw["backend"], kw["critic_backend"] or kw["backend"]
        local = {"device": kw["device"], "dtype": kw["dtype"]}
        options = parse_backend_options(kw["backend_option"], **local, backend=backend)
        own = critic_backend != backend
        critic_options = parse_backend_options(
            kw["critic_backend_option"], **(local if own else {}), backend=critic_backend
        )
        return (
            ModelSpec(model=kw["policy"], backend=backend, options=options),
            ModelSpec(
                model=kw["critic"],
                backend=critic_backend,
                options=critic_options if own else {**options, **critic_options},
            ),
        )

    return OptionGroup(params, build, {})


def executor_group() -> OptionGroup:
    """``--executor local|ray`` and the Ray pool's ``--address``, ``--workers``, ``--gpus-per-worker`` and
    ``--cpus-per-worker`` (defaults and help from :class:`rlaif.scale.ray_setup.RayOptions`), built into
    ``RayOptions`` (None for the local executor)."""
    from rlaif.scale.ray_setup import RayOptions

    fields = RayOptions.model_fields
    params = [option("executor", str, "local", help=HELP["executor"])]
    for name, annotation in (
        ("address", str | None),
        ("workers", int),
        ("gpus_per_worker", float),
        ("cpus_per_worker", float),
    ):
        params.append(option(name, annotation, fields[name].default, help=fields[name].description))

    def build(executor: str, **kw: Any) -> Any:
        return ray_options(executor, **kw)

    build.__rlaif_configs__ = (  # type: ignore[attr-defined]
        (
            RayOptions,
            {n: n for n in ("address", "workers", "gpus_per_worker", "cpus_per_worker")},
            frozenset(),
        ),
    )
    return OptionGroup(tuple(params), build, {})
