"""The accelerate configs in configs/accelerate/ load with accelerate's own loader and launcher, and say what they
claim: DDP on GPUs; FSDP2 fully sharded per Llama decoder layer; DeepSpeed ZeRO-3 in bf16 (checked without the
``deepspeed`` package: the launcher turns the file into its environment, which needs no import of it). Every
nested key is one the launcher knows (accelerate copies unknown ones through silently)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.distributed

CONFIGS = ROOT / "configs" / "accelerate"


def _launch_args(path: Path) -> tuple[Any, Any, bool]:
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    return _validate_launch_command(
        launch_command_parser().parse_args(["--config_file", str(path), "train.py"])
    )


def _known_launch_options() -> set[str]:
    from accelerate.commands.launch import launch_command_parser

    return {a.dest for a in launch_command_parser()._actions}


def test_every_config_has_a_header_and_loads() -> None:
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    files = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert files == ["ddp.yaml", "deepspeed-zero3.yaml", "fsdp.yaml"]
    known = _known_launch_options()
    for name in files:
        text = (CONFIGS / name).read_text()
        header = text.split("\ncompute_environment:")[0]
        assert (
            header.startswith("# ") and "When:" in header and "accelerate launch --config_file" in header
        ), name
        config = load_config_from_file(str(CONFIGS / name))  # raises on unknown top-level keys
        assert isinstance(config, ClusterConfig)
        assert config.mixed_precision == "bf16" and config.num_machines == 1 and config.use_cpu is False
        for key in [*config.fsdp_config, *config.deepspeed_config]:
            assert key in known, f"{name}: {key} is not an option of accelerate launch"


def test_ddp_config_launches_data_parallel_processes() -> None:
    from accelerate.utils import DistributedType
    from accelerate.utils.launch import prepare_multi_gpu_env

    args, defaults, _ = _launch_args(CONFIGS / "ddp.yaml")
    assert defaults.distributed_type == DistributedType.MULTI_GPU
    assert args.multi_gpu and not args.use_fsdp and not args.use_deepspeed and args.num_processes == 8
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16" and "ACCELERATE_USE_FSDP" not in env


def test_fsdp_config_is_full_shard_wrapping_llama_decoder_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    args, defaults, _ = _launch_args(CONFIGS / "fsdp.yaml")
    assert defaults.distributed_type == DistributedType.FSDP and args.use_fsdp
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD" and env["FSDP_RESHARD_AFTER_FORWARD"] == "true"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # the plugin accelerate builds inside each launched process, from that environment
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.transformer_cls_names_to_wrap == [LlamaDecoderLayer.__name__]
    assert plugin.auto_wrap_policy is not None and plugin.cpu_ram_efficient_loading is True
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)


def test_deepspeed_config_is_zero3_bf16() -> None:
    from accelerate.utils import DistributedType
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args, defaults, from_config = _launch_args(CONFIGS / "deepspeed-zero3.yaml")
    assert defaults.distributed_type == DistributedType.DEEPSPEED and args.use_deepspeed
    assert defaults.deepspeed_config["zero_stage"] == 3
    # what `accelerate launch` itself does before building the DeepSpeed environment
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "true"
    assert env["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true"
    assert os.environ.get("ACCELERATE_USE_DEEPSPEED") is None  # nothing leaked into this process


def test_trainers_refuse_sharded_launches_with_the_fix() -> None:
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from rlaif.errors import RlaifError
    from rlaif.training import check_launch

    for ok in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        check_launch(SimpleNamespace(distributed_type=ok), trainer="DPO")
    for sharded in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        with pytest.raises(RlaifError) as e:
            check_launch(SimpleNamespace(distributed_type=sharded), trainer="DPO")
        message = str(e.value)
        assert sharded.value in message and "configs/accelerate/ddp.yaml" in message


def test_the_configs_are_shipped() -> None:
    import tomllib

    from rlaif.resources import shipped_dir

    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert data_files["share/rlaif/configs/accelerate"] == ["configs/accelerate/*.yaml"]
    assert (shipped_dir("configs") / "accelerate" / "ddp.yaml").is_file()
