"""The principle-conditioned reward model: a one-scalar sequence-classification head on a causal LM.

Inputs are left-padded (decoder-only models read the reward at the last token, which left padding puts at the last
position of every row) with position ids counted from each row's first real token; the model's ``pad_token_id`` is
set so that transformers' own pooling finds the same token when the model is used as a plain
``AutoModelForSequenceClassification`` (e.g. as PPO's value model).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import ChatMessage, Prompt
from rlaif.constitution.schema import Principle
from rlaif.errors import ModelError, RlaifError
from rlaif.models.load import load_seq_cls_base
from rlaif.reward.inputs import RewardInputEncoder, TruncationStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NormStats:
    """Mean and standard deviation of the rewards of the training responses (to normalise rewards for PPO)."""

    mean: float
    std: float
    n: int = 0

    def normalize(self, reward: float) -> float:
        """(reward − mean) / std."""
        return (reward - self.mean) / (self.std if self.std > 0 else 1.0)

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready."""
        return {"mean": self.mean, "std": self.std, "n": self.n}

    @classmethod
    def from_rewards(cls, rewards: Sequence[float]) -> NormStats:
        """Statistics of a list of rewards (population std; 1.0 when there is a single reward)."""
        n = len(rewards)
        if n == 0:
            raise ValueError("no rewards to compute statistics from")
        mean = sum(rewards) / n
        var = sum((r - mean) ** 2 for r in rewards) / n
        std = math.sqrt(var) if n > 1 and var > 0 else 1.0
        return cls(mean=mean, std=std, n=n)


def model_context(model: Any) -> int | None:
    """The longest input the model's positional encoding supports, when its config says."""
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def forward_rewards(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """``[B]`` rewards of left-padded ``[B, T]`` inputs (read at the last position)."""
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    )
    return out.logits[:, -1] if out.logits.dim() == 3 else out.logits[:, 0]


def _prefix_fns(model: Any, pad_id: int, device: Any) -> Any | None:
    """The decoder and reward head of ``model`` for the prefix-sharing scorer (None when it has neither)."""
    from transformers import DynamicCache

    from rlaif.backends.prefix_cache import ForwardFns

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, getattr(base, "base_model_prefix", ""), None)
    head = getattr(base, "score", None)
    if decoder is None or head is None or not callable(decoder) or not callable(head):
        return None

    def call(**kwargs: Any) -> tuple[Any, Any]:
        out = decoder(**kwargs)
        return out.last_hidden_state, out.past_key_values

    return ForwardFns(
        decoder=call,
        head=head,
        make_cache=lambda layers: DynamicCache() if layers is None else DynamicCache(layers),
        cache_layers=lambda cache: [(layer.keys, layer.values) for layer in cache.layers],
        pad_id=pad_id,
        device=device,
        dtype=next(model.parameters()).dtype,
        log_softmax=False,
    )


def rewards_of(
    model: Any,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    *,
    batch_size: int = 16,
    device: Any = None,
    share_prefix: bool = True,
    max_batch_tokens: int = 8192,
    progress: bool | None = None,
) -> list[float]:
    """Rewards of token sequences in the input order.

    With ``share_prefix`` (the default) the sequences go through the prefix-sharing scorer of
    :mod:`rlaif.backends.prefix_cache`: the tokens that several inputs have in common (the principles block, the
    conversation shared by a prompt's responses) are run once and their key/value cache reused, and only the last
    position of each input goes through the reward head. Otherwise (or for a model without a separate decoder and
    ``score`` head) they are batched by length (sorted, so little padding), ``batch_size`` rows at a time. The two
    agree to floating-point reordering (tests check ≤ 1e-4).

    ``progress`` shows a bar with rate and ETA (None: when there are at least 64 inputs and stderr is a terminal).
    """
    import sys

    import torch
    from tqdm.auto import tqdm

    from rlaif.training.logprobs import pad_left

    dev = device if device is not None else next(model.parameters()).device
    fns = _prefix_fns(model, pad_id, dev) if share_prefix and sequences else None
    show = progress if progress is not None else (len(sequences) >= 64 and sys.stderr.isatty())
    with tqdm(total=len(sequences), desc="scoring", unit="resp", disable=not show, leave=False) as bar:
        if fns is not None:
            from rlaif.backends.prefix_cache import score_sequences

            # a dummy token after each input makes its last real token a read position; the head's output 0 is
            # read
            seqs = [[*s, 0] for s in sequences]
            with torch.inference_mode():
                values, _ = score_sequences(
                    seqs,
                    [len(s) for s in sequences],
                    fns,
                    max_batch_tokens=max_batch_tokens,
                    max_rows=batch_size,
                    max_chunk_tokens=4 * max_batch_tokens,
                    on_chunk=bar.update,
                )
            return [float(v) for v in values]
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        out = [0.0] * len(sequences)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                ids, mask = pad_left([sequences[i] for i in idx], pad_id)
                rewards = forward_rewards(model, ids.to(dev), mask.to(dev)).float().cpu().tolist()
                for i, r in zip(idx, rewards, strict=True):
                    out[i] = float(r)
                bar.update(len(idx))
        return out


class RewardModel:
    """A trained principle-conditioned reward model, ready to score.

    >>> rm = RewardModel.load("runs/x/reward/model")                                 # doctest: +SKIP
    >>> rm.score([[concise]], ["How far is the Moon?"], ["About 384,000 km."])       # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        encoder: RewardInputEncoder,
        *,
        constitution_hash: str = "",
        stats: NormStats | None = None,
        sidecar: dict[str, Any] | None = None,
        folder: Path | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.constitution_hash = constitution_hash
        self.template_hash = encoder.template_hash
        self.stats = stats
        self.sidecar = sidecar or {}
        #: the exported folder this model was loaded from (None when built in memory)
        self.folder = folder

    @property
    def pad_id(self) -> int:
        """The padding token id."""
        return int(self.tokenizer.pad_token_id)

    @property
    def truncation(self) -> TruncationStats:
        """How many inputs scored so far had to be truncated."""
        return self.encoder.stats

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        merge_adapter: bool | None = None,
    ) -> RewardModel:
        """Load a folder written by :func:`export_reward_model` (adapter or merged), its template and statistics.

        ``merge_adapter``: fold a LoRA adapter into the base weights for scoring (no extra low-rank products per
        layer); None (the default) merges when the weights are float32, where the fold is exact to rounding, and
        keeps the adapter in 16-bit dtypes, where adding the small update to rounded weights would lose it. Pass
        False to keep the adapter trainable (PPO's value model does).
        """
        from transformers import AutoTokenizer

        from rlaif import models
        from rlaif.prompting import TemplateSet
        from rlaif.training import read_sidecar

        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ModelError(f"reward model folder {path} does not exist", path=path, field="reward_model")
        sidecar = read_sidecar(path)
        if sidecar.get("format") != "rlaif-reward-model/1":
            raise ModelError(
                f"{path} is not a reward model exported by rlaif (no rlaif.json with format rlaif-reward-model/1)",
                path=path,
                hint="pass the model folder `rlaif train-rm` wrote (<output>/model)",
            )
        target = models.resolve_device(device)
        if (path / "adapter_config.json").is_file():
            base_name = str(sidecar["base_model"]["model"])
            base, _, _ = load_seq_cls_base(
                base_name, dtype=dtype, device="cpu", trust_remote_code=trust_remote_code
            )
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(base, str(path))
            except (ValueError, RuntimeError, KeyError) as e:
                raise ModelError(
                    f"cannot load the reward adapter {path} on {base_name}: {e}", path=path
                ) from e
            import torch

            if merge_adapter is None:  # exact in float32; in 16 bits the small update would be rounded away
                merge_adapter = next(base.parameters()).dtype == torch.float32
            if merge_adapter:
                # the trained score head (peft's modules_to_save copy) replaces the base one in the merged model
                model = model.merge_and_unload()
        else:
            model, _, _ = load_seq_cls_base(
                str(path), dtype=dtype, device="cpu", trust_remote_code=trust_remote_code
            )
        model.to(target)
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        templates = TemplateSet.load(path, shipped=False)
        name = str(sidecar.get("template", "rm_input.j2"))
        context = model_context(model)
        max_length = int(sidecar.get("max_length", context or 2048))
        encoder = RewardInputEncoder(
            tokenizer, templates, template=name, max_length=min(max_length, context or max_length)
        )
        if sidecar.get("template_hash") and encoder.template_hash != sidecar["template_hash"]:
            raise ModelError(
                f"the template saved in {path} does not match the hash recorded at training "
                f"({encoder.template_hash[:12]} vs {str(sidecar['template_hash'])[:12]})",
                path=path / name,
                hint="restore the template file the model was trained with",
            )
        stats_record = sidecar.get("norm_stats")
        stats = (
            NormStats(float(stats_record["mean"]), float(stats_record["std"]), int(stats_record.get("n", 0)))
            if stats_record
            else None
        )
        return cls(
            model,
            tokenizer,
            encoder,
            constitution_hash=str(sidecar.get("constitution_hash", "")),
            stats=stats,
            sidecar=sidecar,
            folder=path,
        )

    def encode(
        self,
        principles: Sequence[Sequence[Principle]],
        prompts: Sequence[Prompt | Sequence[ChatMessage]],
        responses: Sequence[str],
    ) -> list[list[int]]:
        """Token ids of the inputs (truncated to fit, see :mod:`rlaif.reward.inputs`)."""
        if not len(principles) == len(prompts) == len(responses):
            raise RlaifError(
                f"score needs one principle list and one prompt per response: got {len(principles)} principle "
                f"lists, {len(prompts)} prompts and {len(responses)} responses"
            )
        return self.encoder.encode_many(list(zip(principles, prompts, responses, strict=True)))

    def score(
        self,
        principles: Sequence[Sequence[Principle]],
        prompts: Sequence[Prompt],
        responses: Sequence[str],
        *,
        batch_size: int = 16,
        normalize: bool = False,
        share_prefix: bool = True,
        progress: bool | None = None,
    ) -> list[float]:
        """The reward of each response after its prompt, judged by its principles.

        Inputs that share a prefix (the principles block, a prompt's several responses) run it once
        (``share_prefix``, see :func:`rewards_of`); ``batch_size`` caps the rows of one forward. ``normalize``
        returns (reward − mean) / std with the statistics of the training responses. ``progress`` shows a bar
        (None: for 64 inputs or more when stderr is a terminal).
        """
        if normalize and self.stats is None:
            raise RlaifError(
                "this reward model has no normalisation statistics",
                hint="score without normalize, or retrain (train-rm saves them)",
            )
        sequences = self.encode(principles, prompts, responses)
        was_training = self.model.training
        self.model.eval()
        try:
            rewards = rewards_of(
                self.model,
                sequences,
                self.pad_id,
                batch_size=batch_size,
                share_prefix=share_prefix,
                progress=progress,
            )
        finally:
            if was_training:
                self.model.train()
        if normalize:
            assert self.stats is not None
            rewards = [self.stats.normalize(r) for r in rewards]
        return rewards


#: :meth:`RewardModel.load`, as a function
load_exported = RewardModel.load
