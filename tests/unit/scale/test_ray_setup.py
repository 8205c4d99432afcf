"""The Ray executor's setup, without a cluster: missing Ray, unreachable addresses, options, lazy import."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlaif.errors import RlaifError
from rlaif.scale import RayOptions, check_reachable, import_ray
from rlaif.scale.ray_setup import _host_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import ray` fail as it does where Ray is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)


def test_missing_ray_says_how_to_install_it(no_ray: None) -> None:
    with pytest.raises(RlaifError) as err:
        import_ray()
    assert "needs the 'ray[data]' package" in str(err.value)
    assert "pip install 'rlaif[ray]'" in str(err.value)


def test_cli_with_ray_missing_exits_1_with_the_install_command(
    no_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlaif.cli.main import main

    code = main(
        ["generate", "--prompts", str(ROOT / "data/prompts/smoke.jsonl"), "--backend", "mock", "-o",
         str(tmp_path / "out"), "--executor", "ray"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "pip install 'rlaif[ray]'" in err and "Traceback" not in err


def test_pipeline_with_ray_missing_names_the_file(no_ray: None, tmp_path: Path) -> None:
    from rlaif.loop import load_pipeline, run_pipeline

    p = tmp_path / "p.yaml"
    p.write_text(
        "name: x\nmodels: {policy: m, backend: mock}\nconstitution: principles/hhh.yaml\n"
        f"prompts: {{files: [{ROOT / 'data/prompts/smoke.jsonl'}]}}\nexecutor: ray\n"
    )
    with pytest.raises(RlaifError) as err:
        run_pipeline(load_pipeline(p), runs_dir=tmp_path / "runs", progress=False)
    assert str(p) in str(err.value) and "pip install 'rlaif[ray]'" in str(err.value)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_unreachable_address_fails_fast_naming_it() -> None:
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(RlaifError) as err:
            check_reachable(address)
        assert f"cannot reach the Ray cluster at {address}" in str(err.value)
    assert time.monotonic() - t0 < 10


def test_address_forms() -> None:
    assert _host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert _host_port("ray://head:10001") == ("head", 10001)
    assert _host_port("[::1]:6379") == ("::1", 6379)
    assert _host_port("auto") is None and _host_port("local") is None
    check_reachable("auto")  # nothing to dial: left to ray.init


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"workers": 0}, "workers"),
        ({"gpus_per_worker": -1}, "gpus_per_worker"),
        ({"cpus_per_worker": 0}, "cpus_per_worker"),
        ({"batches_per_task": 0}, "batches_per_task"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_options(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(RlaifError) as err:
        RayOptions(**kwargs)  # type: ignore[arg-type]
    assert err.value.problem.field == field


def test_importing_rlaif_scale_does_not_import_ray() -> None:
    code = "import sys, rlaif.scale, rlaif.loop.stages, rlaif.cli.label; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
