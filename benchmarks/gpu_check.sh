#!/usr/bin/env bash
# GPU check for a single-GPU machine: DPO, PPO and reward-model steps, critic scoring and (if installed) vLLM
# generation, bf16 on CUDA, random-weight ~0.7 B-parameter models built from configs. Needs only this source tree
# and the machine's Python stack (torch with CUDA, transformers, peft; vllm optional). Finishes within 8 minutes.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine
#   bash benchmarks/gpu_check.sh --tiny --device cpu   # dry run anywhere (tiny model, seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
