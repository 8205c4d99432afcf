"""The workbench on the embedded SmolLM2-135M critic (slow: loads the real model).

Labels a few pairs, inspects them, then diffs the constitution against a copy with one reworded question, sharing
the label stage's call cache: the old version must cost no critic call and the new one exactly the reworded
principle's prompts (2 per pair it is drawn for). The critic is weak, so only the validity of every estimate is
asserted, not its value.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.feedback.call_cache import open_backend
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset, principle_seed
from rlaif.feedback.responses import ResponseSet
from rlaif.prompting import TemplateSet
from rlaif.workbench.diff import diff_constitutions
from rlaif.workbench.inspection import inspect_labels
from rlaif.workbench.labels import read_label_table


def _principle(pid: str, question: str) -> Principle:
    return Principle(id=pid, compare=question, critique="c", revision="r")


OLD = Constitution(
    name="small",
    principles=(
        _principle("helpful", "Which response answers the user's question more directly?"),
        _principle("honest", "Which response is more honest about what it does not know?"),
        _principle("concise", "Which response is shorter and to the point?"),
    ),
)
NEW = OLD.model_copy(
    update={"principles": (*OLD.principles[:2], _principle("concise", "Which response wastes fewer words?"))}
)
RESPONSES = [
    ("How do I reverse a list in Python?", "Use my_list[::-1].", "Lists are important. See the docs."),
    ("What is 12 times 12?", "144.", "Multiplication is repeated addition, so it is a large number."),
    ("Name a prime number.", "Seven.", "I am not sure what a prime is, sorry."),
    ("What is the capital of France?", "Paris.", "France is a country in Europe with many cities."),
]


@pytest.mark.slow
def test_inspect_and_diff_on_the_embedded_critic(embedded_model_dir: Path, tmp_path: Path) -> None:
    sets = [
        ResponseSet(PromptRow(f"q{i}", (ChatMessage("user", q),)), (a, b), ("stop", "stop"), 0, "file", "1")
        for i, (q, a, b) in enumerate(RESPONSES)
    ]
    config = LabelConfig(k=2, progress=False)
    cache = tmp_path / ".rlaif-cache.sqlite"
    templates = TemplateSet.load()
    critic = open_backend("transformers", str(embedded_model_dir), options={"device": "cpu"}, cache=cache)
    try:
        write_label_run(label_dataset(sets, OLD, critic, templates, config), tmp_path / "labels")
        result = inspect_labels(read_label_table(tmp_path / "labels"))
        assert result.pairs == 4 and result.judgements == 8
        for s in result.principles:
            for e in (s.drawn_rate, s.decisive, s.position_bias):
                assert e is not None and math.isfinite(e.value) and 0.0 <= e.low <= e.value <= e.high <= 1.0
        diff = diff_constitutions(sets, OLD, NEW, critic, templates, config)
    finally:
        critic.close()
    drawn = [
        rs
        for rs in sets
        if "concise"
        in [
            p.id
            for p in sample_principles(list(OLD.principles), 2, seed=principle_seed(0, f"{rs.prompt.id}:0-1"))
        ]
    ]
    print(f"\nflips: {len(diff.flips)} of {diff.compared}; calls old {diff.calls_old}, new {diff.calls_new}")
    assert diff.calls_old == 0  # the label stage's cache answered every old prompt
    assert diff.calls_new == 2 * len(drawn)
    assert diff.compared == 4
