"""Watching a policy during preference training: greedy responses to held-out prompts, their rule compliance and
length, and the KL divergence from the reference along them."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.constitution.compliance import ComplianceReport, rule_compliance
from rlaif.constitution.schema import Principle
from rlaif.policy.model import Policy, PromptLike, generate_greedy


@dataclass(frozen=True)
class PolicyEval:
    """Greedy responses to held-out prompts and what was measured on them."""

    responses: list[str]
    mean_words: float
    mean_tokens: float
    kl: float | None  # mean over prompts of Σ_t KL(π(·|x, y<t) ‖ π_ref(·|x, y<t)) along the greedy response
    compliance: ComplianceReport | None

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the metrics log."""
        out = {"response_words": self.mean_words, "response_tokens": self.mean_tokens}
        if self.kl is not None:
            out["kl_to_reference"] = self.kl
        if self.compliance is not None:
            for key, est in self.compliance.rates.items():
                out[f"compliance/{key}"] = est.value
        return out


def greedy_kl(
    policy: Policy, prompts: Sequence[PromptLike], responses: Sequence[str], *, batch_size: int = 8
) -> float:
    """Mean over prompts of the summed per-token KL(policy ‖ reference) along the given responses.

    Exact at each position (full-vocabulary distributions), summed over the response tokens; the reference is the
    same model with its adapter disabled.
    """
    import torch

    from rlaif.training.logprobs import pad_left, response_mask_left

    model = policy.model
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(prompts), batch_size):
            ps = [policy.encode_prompt(p) for p in prompts[start : start + batch_size]]
            rs = [policy.encode_response(r) for r in responses[start : start + batch_size]]
            seqs = [p + r for p, r in zip(ps, rs, strict=True)]
            ids, attn = pad_left(seqs, policy.pad_id)
            ids, attn = ids.to(model.device), attn.to(model.device)
            mask = response_mask_left([len(p) for p in ps], [len(s) for s in seqs], ids.shape[1]).to(
                ids.device
            )
            keep = max(len(r) for r in rs) + 1
            pos = (attn.cumsum(-1) - 1).clamp(min=0)

            def logp(m: Any, ids: Any = ids, attn: Any = attn, pos: Any = pos, keep: int = keep) -> Any:
                out = m(
                    input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=keep, use_cache=False
                )
                return torch.log_softmax(out.logits[:, :-1, :].float(), dim=-1)

            with torch.no_grad():
                lp = logp(model)
                with model.disable_adapter():
                    lq = logp(model)
            kl_tok = (lp.exp() * (lp - lq)).sum(
                -1
            )  # [B, keep-1]: positions predicting the last keep-1 tokens
            sub = mask[:, -(keep - 1) :]
            total += float((kl_tok * sub).sum())
            count += len(seqs)
    finally:
        if was_training:
            model.train()
    return total / max(count, 1)


def evaluate_policy(
    policy: Policy,
    prompts: Sequence[PromptLike],
    *,
    principles: Sequence[Principle] = (),
    max_new_tokens: int = 128,
    with_kl: bool = True,
) -> PolicyEval:
    """Greedy responses of the current policy, their length, rule compliance (when principles carry rules) and KL."""
    responses = generate_greedy(policy, prompts, max_new_tokens=max_new_tokens)
    words = [len(r.split()) for r in responses]
    tokens = [len(policy.encode_response(r, add_eos=False)) for r in responses]
    ruled = [p for p in principles if p.rule is not None]
    report = rule_compliance(ruled, responses) if ruled else None
    kl = None
    if with_kl and hasattr(policy.model, "disable_adapter"):
        with contextlib.suppress(ValueError):  # a model without an adapter has no reference to compare with
            kl = greedy_kl(policy, prompts, responses)
    n = max(len(responses), 1)
    return PolicyEval(responses, sum(words) / n, sum(tokens) / n, kl, report)
