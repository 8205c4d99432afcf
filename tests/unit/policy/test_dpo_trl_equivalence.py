"""Our DPO/IPO loss and gradients equal TRL's ``DPOTrainer`` on the same tiny model and batch (hard labels).

TRL (dev extra only) is the oracle: its collator and ``compute_loss`` run on the token ids our tokenization
produced, so both see exactly the same sequences. TRL attaches the LoRA adapter itself (``peft_config``), so its
reference is the adapter-disabled base, as ours; the adapter's B matrices are then randomised in that very model so
that the policy differs from the reference, and both trainers compute on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rlaif.policy import load_policy
from rlaif.policy.dpo_batch import batch_logps, collate_pairs
from rlaif.policy.dpo_data import PreferenceRow, tokenize_pairs
from rlaif.policy.dpo_loss import preference_loss
from rlaif.training import LoraSettings

trl = pytest.importorskip("trl")

ROWS = [
    PreferenceRow("a", "The capital of France is", " Paris, a city on the Seine.", " Berlin.", 1.0),
    PreferenceRow(
        "b", "Water boils at", " 100 degrees at sea level.", " the sun is a star and so on and so on.", 1.0
    ),
    PreferenceRow("c", "Please write a short poem about the sea.", " The waves come in.", " No.", 1.0),
]


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_loss_and_gradients_match_trl(tiny_model_dir: Path, tmp_path: Path, loss_type: str) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig as TrlDPOConfig
    from trl import DPOTrainer

    policy = load_policy(str(tiny_model_dir), lora=LoraSettings(enabled=False), device="cpu", dtype="float32")
    pairs, _ = tokenize_pairs(policy, ROWS, max_length=256, max_prompt_length=128, prompt_format="plain")
    beta = 0.5
    args = TrlDPOConfig(
        output_dir=str(tmp_path / "trl"),
        beta=beta,
        loss_type=[loss_type],
        per_device_train_batch_size=3,
        gradient_checkpointing=False,
        max_length=None,
        report_to=[],
        use_cpu=True,
        bf16=False,
    )
    dataset = Dataset.from_list(
        [{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in ROWS]
    )
    trainer = DPOTrainer(
        model=policy.model,
        args=args,
        train_dataset=dataset,
        processing_class=policy.tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    model = trainer.model
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)

    # ours: one concatenated forward (and the shared-prompt and packed layouts) against the adapter-disabled reference
    ours: dict[str, tuple[float, dict[str, torch.Tensor]]] = {}
    for layout in ("concat", "shared", "packed"):
        model.zero_grad(set_to_none=True)
        batch = collate_pairs(pairs, policy.pad_id, indices=[0, 1, 2], layout=layout)
        seq = batch_logps(model, batch)
        with torch.no_grad(), model.disable_adapter():
            ref = batch_logps(model, batch)
        n = batch.pairs
        out = preference_loss(
            seq[:n], seq[n:], ref[:n], ref[n:], batch.p_chosen, beta=beta, loss_type=loss_type,  # type: ignore[arg-type]
            chosen_tokens=batch.response_tokens[:n], rejected_tokens=batch.response_tokens[n:],
        )  # fmt: skip
        out.loss.backward()
        ours[layout] = (float(out.loss.detach()), _grads(model))

    # TRL: its collator + compute_loss on the same token ids
    model.zero_grad(set_to_none=True)
    examples = [
        {"prompt_ids": p.prompt_ids, "chosen_ids": p.chosen_ids, "rejected_ids": p.rejected_ids}
        for p in pairs
    ]
    inputs = trainer.data_collator(examples)
    trainer.model.train()
    trl_loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss.backward()
    trl_grads = _grads(model)

    assert abs(float(trl_loss) - 0.693147) > 1e-3  # the policy really differs from the reference
    for layout, (loss, grads) in ours.items():
        assert loss == pytest.approx(float(trl_loss), abs=1e-5), layout
        assert grads.keys() == trl_grads.keys()
        for name, g in grads.items():
            assert torch.allclose(g, trl_grads[name], atol=1e-5, rtol=1e-4), (layout, name)
