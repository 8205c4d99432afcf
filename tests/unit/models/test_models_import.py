"""``import rlaif.models`` and ``import rlaif.testing`` must stay light: no torch, transformers or peft."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["torch", "transformers", "peft", "tokenizers", "huggingface_hub", "httpx"]


@pytest.mark.parametrize("module", ["rlaif.models", "rlaif.testing"])
def test_import_is_light(module: str) -> None:
    code = f"import json, sys; import {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
