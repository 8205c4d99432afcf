"""Exporting a reward model as a standard Hugging Face folder, and loading it back.

Folder layout (adapter form, the default)::

    adapter_config.json, adapter_model.safetensors   LoRA adapter + the score head (peft SEQ_CLS, modules_to_save)
    tokenizer files                                   with pad token set
    rlaif.json                                        sidecar: base model, constitution and template hashes,
                                                      norm_stats {mean, std}, principles, data hash, settings
    rm_input.j2 (+ the partials it includes)          the template the inputs must be rendered with
    README.md                                         model card

The merged form (``merge=True``) holds a full safetensors ``AutoModelForSequenceClassification`` (``num_labels=1``,
``pad_token_id`` set) instead of the adapter. See ``docs/reward.md`` for loading it with plain transformers/peft.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.prompting import TemplateSet

TEMPLATES_KEY = "template_files"


def template_files(templates: TemplateSet, name: str) -> dict[str, str]:
    """The template and every template it includes, by file name (saved beside the model)."""
    name = templates.resolve(name)
    out: dict[str, str] = {}
    for dep in templates._closure(name):
        out[dep] = templates.path(dep).read_text(encoding="utf-8")
    return out


def model_card(sidecar: Mapping[str, Any]) -> str:
    """The README.md of an exported reward model."""
    stats = sidecar.get("norm_stats") or {}
    principles = "\n".join(f"- `{p}`" for p in sidecar.get("principles", [])) or "- (none recorded)"
    val = sidecar.get("validation") or {}
    val_line = (
        f"Validation (held-out labels): loss {val.get('loss', float('nan')):.4f}, pairwise accuracy "
        f"{100 * val.get('accuracy', float('nan')):.1f}% on {val.get('pairs', 0)} pairs."
        if val
        else "No validation split was used."
    )
    merged = sidecar.get("merged", False)
    load = (
        "AutoModelForSequenceClassification.from_pretrained(folder)"
        if merged
        else "PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, num_labels=1), folder)"
    )
    return f"""---
library_name: {"transformers" if merged else "peft"}
tags: [rlaif, reward-model, principle-conditioned]
---
# Principle-conditioned reward model

A one-scalar sequence-classification reward model on `{sidecar.get("base_model", {}).get("model_id", "?")}`, trained by
rlaif on soft AI preference labels (soft Bradley-Terry loss). It reads the principles it should judge by: the input
is rendered by `{sidecar.get("template", "rm_input.j2")}` (saved here) with the principles, the conversation and the
response, and the reward is read at the last token. Change the principles to steer it.

- constitution hash: `{sidecar.get("constitution_hash", "")}`
- template hash: `{sidecar.get("template_hash", "")}`
- training data: `{sidecar.get("data", "")}` (sha256 `{sidecar.get("data_hash", "")}`), {sidecar.get("train_pairs", "?")} pairs
- normalisation (training responses): mean {stats.get("mean", float("nan")):.4f}, std {stats.get("std", float("nan")):.4f}
- form: {"merged full weights" if merged else "LoRA adapter + score head"}

{val_line}

Principles it was trained with:
{principles}

## Use

```python
from rlaif.reward import RewardModel
rm = RewardModel.load("<this folder>")
rm.score([[principle]], [prompt], [response], normalize=True)
```

Plain transformers/peft: `{load}`; render inputs with the saved template, pad on the left, read `logits[:, 0]`.
"""


def export_reward_model(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    templates: TemplateSet,
    template: str,
    sidecar: Mapping[str, Any],
    merge: bool = False,
) -> Path:
    """Write the model folder (see the module docstring); returns it."""
    from rlaif.training import export_model

    files = template_files(templates, template)
    record = {
        **dict(sidecar),
        "template": templates.resolve(template),
        TEMPLATES_KEY: sorted(files),
        "merged": bool(merge),
        "format": "rlaif-reward-model/1",
    }
    # merging peft's SEQ_CLS model keeps the trained score head (modules_to_save)
    return export_model(
        model, tokenizer, out_dir, merge=merge, card=model_card(record), sidecar=record, extra_files=files
    )
