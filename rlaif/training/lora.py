"""Putting a LoRA adapter on a model (peft) and counting what trains."""

from __future__ import annotations

from typing import Any

from rlaif.training.config import LoraSettings


def attach_lora(
    model: Any,
    settings: LoraSettings,
    *,
    task_type: str = "CAUSAL_LM",
    modules_to_save: list[str] | None = None,
) -> Any:
    """Wrap ``model`` in a trainable peft LoRA adapter (or return it unchanged with every weight trainable).

    ``task_type`` is peft's (``CAUSAL_LM`` for policies, ``SEQ_CLS`` for reward/value models, whose score head peft
    then trains in full); ``modules_to_save`` names further modules trained in full and saved with the adapter.
    With ``settings.enabled`` false nothing is wrapped: every parameter trains (the full fine-tune baseline).
    """
    if not settings.enabled:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type=task_type,
        modules_to_save=modules_to_save,
    )
    return get_peft_model(model, config)


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
