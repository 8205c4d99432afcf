"""Constitutions as data: schema, loading, validation, hashing, sampling, rule checks and importers.

>>> from rlaif.constitution import load_constitution, sample_principles
>>> c = load_constitution("principles/hhh.yaml")
>>> [p.id for p in sample_principles(c, 2, seed=0)]  # doctest: +SKIP

See ``docs/constitutions.md`` for the file format.
"""

from rlaif.constitution.hashing import (
    SHORT_HASH_LENGTH,
    canonical_json,
    constitution_hash,
    principle_hash,
    short_hash,
)
from rlaif.constitution.importers import (
    IMPORT_FORMATS,
    detect_format,
    import_anthropic,
    import_constitution_data,
    import_constitution_file,
    import_hf,
)
from rlaif.constitution.loading import (
    constitution_files,
    load_constitution,
    load_constitution_text,
    load_constitutions,
)
from rlaif.constitution.patterns import catastrophic_reason, pattern_problem
from rlaif.constitution.rules import RuleResult, check_principles, check_rule
from rlaif.constitution.sampling import (
    filter_principles,
    inclusion_probabilities,
    principles_by_id,
    sample_principles,
)
from rlaif.constitution.schema import (
    MAX_PATTERN_LENGTH,
    ChatTurn,
    Constitution,
    FewShotExample,
    Principle,
    Rule,
)
from rlaif.constitution.writing import dump_constitution_yaml, write_text_atomic

__all__ = [
    "IMPORT_FORMATS",
    "MAX_PATTERN_LENGTH",
    "SHORT_HASH_LENGTH",
    "ChatTurn",
    "Constitution",
    "FewShotExample",
    "Principle",
    "Rule",
    "RuleResult",
    "canonical_json",
    "catastrophic_reason",
    "check_principles",
    "check_rule",
    "constitution_files",
    "constitution_hash",
    "detect_format",
    "dump_constitution_yaml",
    "filter_principles",
    "import_anthropic",
    "import_constitution_data",
    "import_constitution_file",
    "import_hf",
    "inclusion_probabilities",
    "load_constitution",
    "load_constitution_text",
    "load_constitutions",
    "pattern_problem",
    "principle_hash",
    "principles_by_id",
    "sample_principles",
    "short_hash",
    "write_text_atomic",
]
