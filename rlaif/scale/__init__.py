"""Scaling out: generation and labeling on a Ray cluster (see ``docs/scaling.md``).

Importing this package does not import Ray; the pool imports it when it starts, and says how to install it when it
is missing.

>>> from rlaif.scale import BackendSpec, RayOptions, label_with_ray  # doctest: +SKIP
>>> run = label_with_ray(sets, constitution, BackendSpec("vllm", "my-7b-critic"), TemplateSet.load(),
...                      LabelConfig(k=4), RayOptions(address="auto", workers=8, gpus_per_worker=1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rlaif.lazy import lazy_exports

if TYPE_CHECKING:
    from rlaif.constitution.schema import Constitution
    from rlaif.feedback.inputs import PromptRow
    from rlaif.feedback.labeler import LabelConfig, LabelRun
    from rlaif.feedback.responses import GenerateConfig, ResponseSet
    from rlaif.prompting import TemplateSet
    from rlaif.scale.ray_setup import BackendSpec, RayOptions


def label_with_ray(
    responses: Sequence[ResponseSet],
    constitution: Constitution,
    critic: BackendSpec | None,
    templates: TemplateSet,
    config: LabelConfig | None = None,
    options: RayOptions | None = None,
) -> LabelRun:
    """:func:`~rlaif.feedback.labeler.label_dataset` with the critic on a Ray actor pool: the same
    :class:`~rlaif.feedback.labeler.LabelRun` as the local executor (write it with
    :func:`~rlaif.feedback.label_output.write_label_run`). ``critic`` may be None only for rule labels (no model)."""
    from rlaif.feedback.labeler import LabelConfig, label_dataset
    from rlaif.scale.ray_executor import RayBackendPool
    from rlaif.scale.ray_setup import RayOptions

    config = config or LabelConfig()
    if critic is None:
        return label_dataset(responses, constitution, None, templates, config)
    with RayBackendPool(critic, options or RayOptions()) as pool:
        return label_dataset(responses, constitution, pool, templates, config)


def generate_with_ray(
    policy: BackendSpec,
    prompts: Sequence[PromptRow],
    config: GenerateConfig | None = None,
    options: RayOptions | None = None,
) -> list[ResponseSet]:
    """:func:`~rlaif.feedback.responses.generate_responses` with the policy on a Ray actor pool: the same
    responses as the local executor (write them with :func:`~rlaif.feedback.responses.write_responses`)."""
    from rlaif.feedback.responses import GenerateConfig, generate_responses
    from rlaif.scale.ray_executor import RayBackendPool
    from rlaif.scale.ray_setup import RayOptions

    with RayBackendPool(policy, options or RayOptions()) as pool:
        return generate_responses(pool, prompts, config or GenerateConfig())


#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.scale.ray_setup": ("BackendSpec", "RayOptions", "check_reachable", "import_ray"),
    "rlaif.scale.ray_executor": ("RayBackendPool",),
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = sorted(
    ["generate_with_ray", "label_with_ray", *(name for names in _LAZY.values() for name in names)]
)
