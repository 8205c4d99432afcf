"""The one ``key.path=value`` parser (rlaif/overrides.py) and the parsers built on it."""

from __future__ import annotations

import pytest

from rlaif.errors import DataFileError, RlaifError
from rlaif.overrides import apply_overrides, parse_override, parse_value, set_path


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("5e-4", 0.0005),  # JSON's notation: YAML alone would read it as text
        ("1E6", 1e6),
        ("5.0e-4", 0.0005),
        ("true", True),
        ("false", False),
        ("no", "no"),  # YAML 1.2: text
        ("null", None),
        ("", ""),
        ("  ", ""),
        ("text", "text"),
        ("'3'", "3"),
        ('"quoted text"', "quoted text"),
        ("[1, 2]", [1, 2]),
        ("[principles/style.yaml]", ["principles/style.yaml"]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
        ('{"a": 1}', {"a": 1}),  # JSON is YAML
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("a: b", "a: b"),  # a block mapping: the user meant text
        ("- x", "- x"),
        ("01", "01"),
    ],
)
def test_values_read_as_yaml_scalars_or_flow_collections(raw: str, value: object) -> None:
    assert parse_value(raw) == value
    assert type(parse_value(raw)) is type(value)


def test_bad_yaml_is_refused_or_kept_as_text() -> None:
    with pytest.raises(DataFileError) as e:
        parse_value("[1, 2", label="override rounds")
    assert "override rounds" in e.value.format()
    assert parse_value("[1, 2", lenient=True) == "[1, 2"
    assert parse_value("*alias", lenient=True) == "*alias"


def test_parse_override_splits_the_dotted_key() -> None:
    assert parse_override("a.b.c=4") == (["a", "b", "c"], 4)
    assert parse_override(" run . batch_size = 8 ") == (["run", "batch_size"], 8)
    assert parse_override("x=y=z") == (["x"], "y=z")
    with pytest.raises(DataFileError) as e:
        parse_override("no-equals-sign")
    assert e.value.problems[0].message == "override 'no-equals-sign' is not key=value"
    assert e.value.problems[0].field == "no-equals-sign"
    with pytest.raises(DataFileError, match="no part of the dotted key may be empty") as e:
        parse_override("a..b=1", what="setting", field="--set", hint="e.g. -s beta=0.2")
    assert e.value.problems[0].field == "--set" and e.value.hint == "e.g. -s beta=0.2"
    with pytest.raises(DataFileError):
        parse_override("=1")


def test_apply_overrides_copies_and_creates_mappings() -> None:
    data = {"rounds": 2, "policy": {"method": "dpo"}, "label": None}
    out = apply_overrides(data, ["rounds=3", "policy.dpo.beta=0.2", "label.k=4", "rounds=5"])
    assert out == {"rounds": 5, "policy": {"method": "dpo", "dpo": {"beta": 0.2}}, "label": {"k": 4}}
    assert data == {"rounds": 2, "policy": {"method": "dpo"}, "label": None}  # untouched
    with pytest.raises(DataFileError) as e:
        apply_overrides({"rounds": 2}, ["rounds.x=1"])
    assert "'rounds' is not a mapping" in e.value.format() and e.value.problems[0].field == "rounds.x"


def test_set_path_in_place() -> None:
    data: dict[str, object] = {}
    set_path(data, ["run", "epochs"], 2)
    set_path(data, ["lr"], 1e-3)
    assert data == {"run": {"epochs": 2}, "lr": 1e-3}


def test_backend_options_use_the_shared_parser() -> None:
    from rlaif.cli._common import parse_backend_options

    got = parse_backend_options(
        ["batch_size=16", "base_url=http://127.0.0.1:8000/v1", "temperature=1e-3", "stop=[a, b]", "flag=true",
         "name=x y", "empty="],
        backend="transformers", device="cpu", dtype="bfloat16",
    )  # fmt: skip
    assert got == {
        "device": "cpu",
        "dtype": "bfloat16",
        "batch_size": 16,
        "base_url": "http://127.0.0.1:8000/v1",
        "temperature": 0.001,
        "stop": ["a", "b"],
        "flag": True,
        "name": "x y",
        "empty": "",
    }
    assert parse_backend_options(["x=[1,"], backend="openai") == {"x": "[1,"}  # not YAML: text, as before
    with pytest.raises(RlaifError) as e:
        parse_backend_options(["oops"], backend="openai")
    assert "is not key=value" in e.value.format() and e.value.problems[0].field == "--backend-option"


def test_trainer_settings_use_the_shared_parser() -> None:
    from rlaif.cli.train_policy import parse_override as policy_override
    from rlaif.cli.train_rm import build_config

    assert policy_override("run.batch_size=4") == (["run", "batch_size"], 4)
    assert policy_override("optim.lr=5e-4") == (["optim", "lr"], 0.0005)
    with pytest.raises(RlaifError) as e:
        policy_override("beta")
    assert e.value.problems[0].field == "--set" and "not key=value" in e.value.format()
    with pytest.raises(RlaifError) as e:
        build_config(None, {}, ["optim.lr"])
    assert e.value.problems[0].field == "--set" and "--set 'optim.lr' is not key=value" in e.value.format()
    cfg = build_config(
        None,
        {"data": "d.jsonl", "constitution": "c.yaml", "output_dir": "out", "run.epochs": 2},
        ["optim.lr=5e-4", "run.epochs=3"],
    )
    assert cfg.optim.lr == 0.0005 and cfg.run.epochs == 3
