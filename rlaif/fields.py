"""Field types the configs share: one name, one set of bounds and one description per concept.

A config declares a shared concept by its type (``seed: Seed = 0``, ``batch_pairs: BatchPairs = 32``): the bounds
and the description come with it, so every config that has a seed, a length cap or a choice-mass threshold
validates it the same way and ``--help`` says the same thing. Where a field needs to say what it drives in its
own config, it keeps its own description (``Field(default=..., description=...)``); the bounds still come from
the type. The default is always given where the field is declared (it is that config's choice).

The types are pydantic ``Annotated`` aliases, so a field declared with one has exactly the ``FieldInfo`` (type,
bounds, description) it would have with the ``Field(...)`` written out: names, defaults, JSON/YAML keys and
pipeline fingerprints do not depend on which spelling a config uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

# -- bounded numbers ---------------------------------------------------------------------------------------------

#: a probability or share in [0, 1]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: a count of at least one (items per call, samples, principles, ...)
Count = Annotated[int, Field(ge=1)]

# -- sampling ------------------------------------------------------------------------------------------------------

Seed = Annotated[int, Field(description="run seed: every random draw derives from it, so a rerun repeats")]
TokenCap = Annotated[int, Field(ge=1, description="length cap of each generated text, in tokens")]
Temperature = Annotated[
    float, Field(ge=0.0, description="sampling temperature (0 is greedy; sampled calls are seeded)")
]

# -- principles, batches, rows -------------------------------------------------------------------------------------

PrinciplesK = Annotated[
    int,
    Field(ge=1, description="principles sampled per item (weighted, without replacement); their mean counts"),
]
PrincipleTags = Annotated[
    tuple[str, ...] | None,
    Field(description="only principles carrying at least one of these tags are eligible (null: all)"),
]
BatchPairs = Annotated[
    int,
    Field(
        ge=1,
        description="pairs per critic call (the unit of progress and of cache commits: a resumed run recomputes at most one batch)",
    ),
]
BatchPrompts = Annotated[
    int, Field(ge=1, description="prompts per backend call (the unit of progress and of cache commits)")
]
BatchSize = Annotated[int, Field(ge=1, description="inputs per forward pass")]
Limit = Annotated[int | None, Field(ge=1, description="use only the first N rows of the input (null: all)")]
SkipBadRows = Annotated[bool, Field(description="skip malformed rows (logged) instead of stopping")]
Progress = Annotated[bool, Field(description="show a progress bar (it does not change the results)")]

# -- files ---------------------------------------------------------------------------------------------------------

ConstitutionFile = Annotated[Path, Field(description="constitution YAML the principles come from")]
TemplatesDir = Annotated[
    Path | None, Field(description="template folder searched before the shipped prompts/ (null: only those)")
]
#: a stage's call cache next to its siblings'
SharedCacheFile = Annotated[
    Path | None,
    Field(
        description="SQLite call cache; null = <out>/../.rlaif-cache.sqlite, shared by sibling stages (unless "
        "use_cache is off)"
    ),
]
#: a call cache that is used only when named
CacheFile = Annotated[
    Path | None, Field(description="SQLite call cache (a killed run resumes from it); null: no cache")
]
UseCache = Annotated[
    bool, Field(description="read and write the call cache (a rerun recomputes only what changed)")
]

# -- the critic's judgement ----------------------------------------------------------------------------------------


def check_clamp(value: tuple[float, float]) -> tuple[float, float]:
    """A chain-of-thought clamp: two probabilities, low then high (a ValueError names the rule otherwise)."""
    lo, hi = value
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"cot_clamp must be two probabilities, low then high, got [{lo:g}, {hi:g}]")
    return value


ChainOfThought = Annotated[
    bool,
    Field(
        description="the critic writes its reasoning first (greedy), then is scored (clamped by cot_clamp)"
    ),
]
CotClamp = Annotated[
    tuple[float, float],
    Field(
        description="each order's chain-of-thought probability is clamped into this range, low then high (the "
        "constitutional AI paper's [0.4, 0.6]: reasoning makes small critics over-confident)"
    ),
    AfterValidator(check_clamp),
]
MinChoiceMass = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        description="below this next-token probability on the choices the critic did not answer (unlabeled)",
    ),
]
BatchCalibration = Annotated[
    bool, Field(description="remove each order's mean log-odds over every batch of judgements")
]
JudgeModeName = Annotated[
    str,
    Field(
        description="how the critic judges: auto (the best its backend supports), choice-logprobs, "
        "top-logprobs or verdict"
    ),
]

# -- intervals -----------------------------------------------------------------------------------------------------

Confidence = Annotated[float, Field(gt=0.0, lt=1.0, description="interval coverage")]
BootstrapResamples = Annotated[int, Field(ge=10, description="bootstrap resamples per interval")]
