"""The default backend: a Hugging Face ``transformers`` causal LM on CPU or GPU (optionally with a peft adapter).

**Generation** is our own decode loop over the model's key/value cache (not ``model.generate``), because it gives
per-request seeds and per-request sampling parameters inside one batch:

* chat prompts are formatted with the tokenizer's chat template (with the assistant generation prompt) and
  tokenised without extra special tokens; plain prompts are tokenised as they are (the tokenizer's BOS added unless
  the text already starts with it);
* requests are sorted by prompt length and cut into batches by a token budget (``max_batch_tokens`` ≥ rows ×
  (longest prompt + max_new_tokens)) and ``batch_size``; prompts are LEFT-padded; each prompt is prefilled once and
  its cache expanded to its ``n`` samples;
* each row stops at EOS (not included in the output), at ``max_new_tokens``, or at a stop string (the text is cut
  before it and ``token_ids`` keeps only the tokens that lie wholly before it; finish reason ``"stop"``); finished rows
  leave the batch;
* ``logprobs`` are the model's own log-probabilities (temperature 1, no nucleus cut) of the chosen tokens, so they are
  directly comparable with :meth:`score`;
* sampling uses one ``torch.Generator`` per sample, seeded from ``(params.seed, sample index)``: the same seed and
  prompt give the same tokens whatever else is in the batch and wherever the request sits in it. Guaranteed on one
  machine, library version and ``batch_size``/``max_batch_tokens`` setting; across different batch compositions,
  padding changes floating-point summation order, which can flip a near-tie (rare; greedy outputs in our tests are
  identical batched and unbatched). With ``seed=None`` sampling is not reproducible.

**Scoring** tokenises the prompt (as for plain prompts) and each continuation separately (no special tokens) and
concatenates the ids: the continuation's log-probability is the sum over exactly its own tokens, which is what a
label like ``" (A)"`` vs ``" (B)"`` needs. (Tokenising prompt + continuation jointly could merge tokens across the
boundary; with byte-level BPE tokenizers and continuations starting with a space or punctuation the two agree.) The
work is done by :mod:`rlaif.backends.prefix_cache`: shared prefixes are computed once, logits only where read.

The decode loop's bookkeeping (batches, per-sample rows and seeds, token choice, stop strings) lives in
:mod:`rlaif.backends.transformers_decode`.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.backends.base import (
    Capabilities,
    ChatMessage,
    Completion,
    GenerationRequest,
    Prompt,
    ScoreRequest,
    ScoreResult,
    TopLogprobsRequest,
    TopLogprobsResult,
    chat_template_text,
)
from rlaif.backends.prefix_cache import ForwardFns, score_sequences
from rlaif.backends.transformers_decode import (
    DecodeRow,
    choose_tokens,
    hit_stop,
    plan_batches,
    row_completion,
    rows_per_sample,
)
from rlaif.errors import BackendError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

NAME = "transformers"


class TransformersBackend:
    """Generation and prefix-sharing scoring with a ``transformers`` causal LM (see the module doc).

    ``model`` is a model alias (``"smollm2"``, the embedded default), hub id, local path, a resolved model from
    :func:`rlaif.models.resolve_model`, or an already loaded ``PreTrainedModel`` / ``PeftModel`` (then pass
    ``tokenizer``). ``adapter`` is a peft adapter folder put on top of the base model. ``batch_size`` caps rows per
    forward pass and ``max_batch_tokens`` caps rows × sequence length (memory); ``max_cache_tokens`` caps the distinct
    tokens whose key/value cache scoring keeps at once. ``prefix_sharing=False`` scores every sequence on its own
    (the baseline). ``progress`` shows a progress bar for calls with many requests (``None``: only on a terminal).
    """

    name = NAME

    def __init__(
        self,
        model: Any = "smollm2",
        *,
        tokenizer: Any = None,
        device: str = "auto",
        dtype: str = "auto",
        adapter: str | Path | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 16384,
        max_cache_tokens: int | None = None,
        trust_remote_code: bool = False,
        prefix_sharing: bool = True,
        progress: bool | None = None,
    ) -> None:
        import torch

        if batch_size < 1 or max_batch_tokens < 1:
            raise BackendError(NAME, "batch_size and max_batch_tokens must be >= 1")
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.prefix_sharing = prefix_sharing
        self.progress = progress
        self._closed = False
        self.model: Any = None
        self.tokenizer: Any = None
        if isinstance(model, str | Path) or _is_resolved_model(model):
            from rlaif import models

            resolved = models.resolve_model(str(model)) if isinstance(model, str | Path) else model
            self.tokenizer = tokenizer if tokenizer is not None else models.load_tokenizer(resolved)
            self.model = models.load_causal_lm(
                resolved,
                dtype=dtype,
                device=device,
                trust_remote_code=trust_remote_code,
                adapter=str(adapter) if adapter is not None else None,
            )
            if adapter is not None and hasattr(self.model, "merge_and_unload"):
                # this backend only infers: fold the LoRA update into the weights once, so no step pays for the
                # adapter's extra matmuls (measured 10-20% per decoding step on the embedded model, 2 CPU cores)
                self.model = self.model.merge_and_unload()
            self.model_id = str(resolved.model_id)
            revision = str(resolved.revision or "")
        else:
            if tokenizer is None:
                raise BackendError(NAME, "a loaded model needs its tokenizer", hint="pass tokenizer=...")
            self.tokenizer = tokenizer
            self.model = model
            if device != "auto":
                self.model.to(device)
            if adapter is not None:
                from peft import PeftModel

                self.model = PeftModel.from_pretrained(self.model, str(adapter))
            cfg = getattr(self.model, "config", None)
            self.model_id = str(getattr(cfg, "_name_or_path", "") or type(self.model).__name__)
            revision = ""
        if adapter is not None:
            revision += f"+adapter:{_adapter_digest(Path(adapter))}"
        self.model_revision = revision or "unknown"
        self.model.eval()
        self._lm: Any = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        self._decoder: Any = getattr(self._lm, self._lm.base_model_prefix)
        self._head: Any = self._lm.get_output_embeddings()
        self.device = next(self._lm.parameters()).device
        self._torch = torch
        cfg = (
            self._lm.config.get_text_config(decoder=True)
            if hasattr(self._lm.config, "get_text_config")
            else None
        )
        cfg = cfg or self._lm.config
        self._softcap = getattr(cfg, "final_logit_softcapping", None)
        self._logit_scale = getattr(cfg, "logit_scale", None)
        self._logits_scaling = getattr(cfg, "logits_scaling", None)
        if max_cache_tokens is None:
            # key+value bytes per token; keep about 1 GiB of cache per scoring chunk
            layers = int(getattr(cfg, "num_hidden_layers", 24))
            n_heads = int(getattr(cfg, "num_attention_heads", None) or 16)
            heads = int(getattr(cfg, "num_key_value_heads", None) or n_heads)
            head_dim = int(
                getattr(cfg, "head_dim", None) or int(getattr(cfg, "hidden_size", 1024)) // n_heads
            )
            per_token = 2 * layers * heads * head_dim * next(self._lm.parameters()).element_size()
            max_cache_tokens = max(2048, min(131072, (1 << 30) // max(per_token, 1)))
        self.max_cache_tokens = max_cache_tokens
        tok = self.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        eos: set[int] = set()
        gen_cfg = getattr(self._lm, "generation_config", None)
        for src in (getattr(gen_cfg, "eos_token_id", None), tok.eos_token_id):
            if isinstance(src, int):
                eos.add(src)
            elif isinstance(src, list | tuple):
                eos.update(int(x) for x in src)
        self.eos_ids = eos
        with_special = tok("a", add_special_tokens=True)["input_ids"]
        without = tok("a", add_special_tokens=False)["input_ids"]
        k = len(with_special) - len(without)
        self._start_special: list[int] = (
            list(with_special[:k]) if k > 0 and with_special[k:] == without else []
        )
        self.num_parameters = sum(p.numel() for p in self._lm.parameters())

    # -- text ------------------------------------------------------------------------------------------------
    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The model's chat template applied to ``messages``, ending with the assistant generation prompt."""
        return chat_template_text(self.tokenizer, messages, backend=NAME, model_id=self.model_id)

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids the model sees for a prompt (chat template applied to chats)."""
        if isinstance(prompt, str):
            return self._encode_text(prompt)
        return list(self.tokenizer(self.format_chat(prompt), add_special_tokens=False)["input_ids"])

    def _encode_text(self, text: str) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        bos = getattr(self.tokenizer, "bos_token", None)
        if self._start_special and not (bos and text.startswith(bos)):
            ids = self._start_special + ids
        return ids

    # -- forward helpers ---------------------------------------------------------------------------------------
    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self._head(hidden)
        if self._logit_scale is not None:
            logits = logits * self._logit_scale
        if self._logits_scaling is not None:
            logits = logits / self._logits_scaling
        if self._softcap is not None:
            logits = self._torch.tanh(logits / self._softcap) * self._softcap
        return logits

    @contextmanager
    def _oom_guard(self, what: str, rows: int, tokens: int) -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:  # torch.cuda.OutOfMemoryError subclasses RuntimeError
            if "out of memory" not in str(exc).lower() and type(exc).__name__ != "OutOfMemoryError":
                raise
            if self._torch.cuda.is_available():
                self._torch.cuda.empty_cache()
            raise BackendError(
                NAME,
                f"out of memory while {what} a batch of {rows} rows x {tokens} tokens on {self.device} "
                f"(model {self.model_id})",
                hint=f"lower batch_size (now {self.batch_size}) or max_batch_tokens (now {self.max_batch_tokens}), "
                "or use a smaller dtype (dtype='bfloat16')",
            ) from exc

    def _progress(self, total: int, desc: str) -> Any:
        from tqdm.auto import tqdm

        show = self.progress if self.progress is not None else (total >= 64 and sys.stderr.isatty())
        return tqdm(total=total, desc=desc, unit="req", disable=not show, leave=False)

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError(NAME, "used after close()")

    # -- scoring ---------------------------------------------------------------------------------------------
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Summed log-probability of each continuation after its prompt (see the module doc)."""
        self._check_open()
        if not requests:
            return []
        seqs: list[list[int]] = []
        plens: list[int] = []
        counts: list[int] = []
        for ri, req in enumerate(requests):
            p_ids = self._encode_text(req.prompt)
            if not p_ids:
                raise BackendError(
                    NAME, f"score request {ri}: the prompt is empty (no token to condition on)"
                )
            for ci, cont in enumerate(req.continuations):
                c_ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"]) if cont else []
                if not c_ids:
                    raise BackendError(
                        NAME,
                        f"score request {ri}: continuation {ci} ({cont!r}) is empty after tokenisation",
                        hint="score non-empty continuations such as ' (A)'",
                    )
                seqs.append(p_ids + c_ids)
                plens.append(len(p_ids))
                counts.append(len(c_ids))
        total = len(seqs)
        self.last_computed_tokens = 0
        with self._torch.inference_mode(), self._progress(total, "scoring") as bar:
            fns = ForwardFns(
                decoder=self._decoder_call,
                head=self._logits,
                make_cache=self._make_cache,
                cache_layers=_cache_layers,
                pad_id=self.pad_id,
                device=self.device,
                dtype=next(self._lm.parameters()).dtype,
            )
            with self._oom_guard("scoring", self.batch_size, self.max_batch_tokens):
                values, computed = score_sequences(
                    seqs,
                    plens,
                    fns,
                    max_batch_tokens=self.max_batch_tokens,
                    max_rows=self.batch_size,
                    max_chunk_tokens=self.max_cache_tokens,
                    share=self.prefix_sharing,
                    on_chunk=bar.update,
                )
        self.last_computed_tokens = computed
        results = []
        k = 0
        for req in requests:
            m = len(req.continuations)
            results.append(
                ScoreResult(logprobs=tuple(values[k : k + m]), num_tokens=tuple(counts[k : k + m]))
            )
            k += m
        return results

    def top_logprobs(self, requests: Sequence[TopLogprobsRequest]) -> list[TopLogprobsResult]:
        """The ``top_k`` most likely next tokens after each request's text (the prompt with its prefill), with
        their log-probabilities, from one forward pass per request (first position only)."""
        self._check_open()
        out: list[TopLogprobsResult] = []
        torch = self._torch
        with torch.inference_mode():
            for req in requests:
                text = req.text or self.format_chat(req.messages) + req.prefill
                ids = self._encode_text(text)
                if not ids:
                    raise BackendError(NAME, "top_logprobs: the prompt is empty")
                with self._oom_guard("reading top log-probabilities of", 1, len(ids)):
                    hidden, _ = self._decoder_call(input_ids=torch.tensor([ids], device=self.device))
                    logits = self._logits(hidden[:, -1, :]).float()
                lps = torch.log_softmax(logits[0], dim=-1)
                k = min(req.top_k, int(lps.shape[0]))
                values, indices = torch.topk(lps, k)
                top = tuple(
                    (self.tokenizer.decode([int(i)]), float(v))
                    for v, i in zip(values.tolist(), indices.tolist(), strict=True)
                )
                out.append(TopLogprobsResult(positions=(top,)))
        return out

    #: what every instance can do: scores, generates and lists top log-probabilities (every judge mode works)
    CAPABILITIES = Capabilities(top_logprobs=True)

    def capabilities(self) -> Capabilities:
        """Scores, generates and lists top log-probabilities (every judge mode works)."""
        return self.CAPABILITIES

    def _decoder_call(self, **kwargs: Any) -> tuple[Any, Any]:
        out = self._decoder(**kwargs)
        return out.last_hidden_state, out.past_key_values

    def _make_cache(self, layers: list[tuple[Any, Any]] | None) -> Any:
        from transformers import DynamicCache

        return DynamicCache() if layers is None else DynamicCache(layers)

    # -- generation ------------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """``params.n`` completions per request, in request order (see the module doc)."""
        self._check_open()
        if not requests:
            return []
        torch = self._torch
        prompts = [self.encode_prompt(r.prompt) for r in requests]
        for i, p in enumerate(prompts):
            if not p:
                raise BackendError(NAME, f"generation request {i}: the prompt is empty")
        results: list[list[Completion | None]] = [[None] * r.params.n for r in requests]
        batches = plan_batches(
            requests, prompts, batch_size=self.batch_size, max_batch_tokens=self.max_batch_tokens
        )
        with torch.inference_mode(), self._progress(len(requests), "generating") as bar:
            for batch in batches:
                for row in self._generate_batch(
                    [requests[i] for i in batch], [prompts[i] for i in batch], batch
                ):
                    results[row.req][row.sample] = row_completion(self.tokenizer, row)
                bar.update(len(batch))
        return [[c for c in per if c is not None] for per in results]

    def _generate_batch(
        self, reqs: list[GenerationRequest], prompts: list[list[int]], req_ids: list[int]
    ) -> list[DecodeRow]:
        torch = self._torch
        dev = self.device
        b = len(prompts)
        plen = max(len(p) for p in prompts)
        ids = torch.full((b, plen), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, plen), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, plen - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, plen - len(p) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        rows, expand = rows_per_sample(reqs, req_ids)
        from transformers import DynamicCache

        cache = DynamicCache()
        with self._oom_guard("generating (prefill)", b, plen):
            out = self._lm(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                position_ids=pos.to(dev),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        logits = out.logits[:, -1, :]
        cache = out.past_key_values
        if len(expand) != b:
            sel = torch.tensor(expand, device=dev)
            cache.batch_select_indices(sel)
            logits = logits[sel]
            mask = mask[torch.tensor(expand)]
            pos = pos[torch.tensor(expand)]
        mask = mask.to(dev)
        last_pos = pos[:, -1].to(dev)
        active = list(range(len(rows)))  # row index for each live batch position
        max_steps = max(r.max_new for r in rows)
        for _step in range(max_steps):
            next_tokens = choose_tokens(logits, [rows[a] for a in active])
            keep: list[int] = []
            for slot, a in enumerate(active):
                row = rows[a]
                tok = next_tokens[slot]
                if tok in self.eos_ids:
                    row.finish = "stop"
                    continue
                row.ids.append(tok)
                if row.stop and hit_stop(self.tokenizer, row):
                    row.finish = "stop"
                    continue
                if len(row.ids) >= row.max_new:
                    row.finish = "length"
                    continue
                keep.append(slot)
            if not keep:
                break
            if len(keep) != len(active):
                sel = torch.tensor(keep, device=dev)
                cache.batch_select_indices(sel)
                mask = mask[sel]
                last_pos = last_pos[sel]
                active = [active[s] for s in keep]
            inp = torch.tensor([[rows[a].ids[-1]] for a in active], dtype=torch.long, device=dev)
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            last_pos = last_pos + 1
            with self._oom_guard("generating", len(active), mask.shape[1]):
                out = self._lm(
                    input_ids=inp,
                    attention_mask=mask,
                    position_ids=last_pos[:, None],
                    past_key_values=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
            logits = out.logits[:, -1, :]
            cache = out.past_key_values
        del cache
        return rows

    def close(self) -> None:
        """Drop the model and free accelerator memory."""
        if self._closed:
            return
        self._closed = True
        import gc

        self.model = self._lm = self._decoder = self._head = None
        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def _cache_layers(cache: Any) -> list[tuple[Any, Any]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _is_resolved_model(obj: Any) -> bool:
    return hasattr(obj, "path") and hasattr(obj, "model_id") and hasattr(obj, "source")


def _adapter_digest(folder: Path) -> str:
    h = hashlib.sha256()
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix in {".safetensors", ".bin", ".json"}:
                h.update(f.name.encode())
                h.update(f.read_bytes())
    else:
        h.update(str(folder).encode())
    return h.hexdigest()[:12]


def naive_score(
    backend: TransformersBackend,
    requests: Sequence[ScoreRequest],
    *,
    on_item: Callable[[], None] | None = None,
) -> list[ScoreResult]:
    """Reference scoring: one full forward (logits for every position) per (prompt + continuation).

    What a user without this backend would write; used by tests and benchmarks as the oracle and the baseline.
    """
    torch = backend._torch
    results = []
    with torch.inference_mode():
        for req in requests:
            p_ids = backend._encode_text(req.prompt)
            lps, counts = [], []
            for cont in req.continuations:
                c_ids = list(backend.tokenizer(cont, add_special_tokens=False)["input_ids"])
                ids = torch.tensor([p_ids + c_ids], device=backend.device)
                logits = backend.model(input_ids=ids).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)
                n = len(p_ids)
                targets = torch.tensor(c_ids, device=logp.device)
                lps.append(float(logp[n - 1 : n - 1 + len(c_ids)].gather(1, targets[:, None]).sum()))
                counts.append(len(c_ids))
                if on_item is not None:
                    on_item()
            results.append(ScoreResult(logprobs=tuple(lps), num_tokens=tuple(counts)))
    return results
