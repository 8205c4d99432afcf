"""Tiny, deterministic, fully offline models for tests (ours and users').

:func:`build_tiny_tokenizer` trains a small byte-level BPE on a built-in English text, so it round-trips any string
and has the ChatML special tokens and chat template of SmolLM2. :func:`build_tiny_model_dir` writes a random
two-layer Llama with that tokenizer into a folder that :func:`rlaif.models.resolve_model` and
:func:`rlaif.models.load_causal_lm` load like any local model. Same seed, same bytes.

>>> from rlaif.testing import build_tiny_model_dir
>>> folder = build_tiny_model_dir(tmp_path / "tiny")      # doctest: +SKIP
>>> model = load_causal_lm(str(folder), device="cpu")     # doctest: +SKIP
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

#: special tokens, in id order (0, 1, 2), as in SmolLM2
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

#: vocabulary size the BPE is trained to (256 byte tokens + 3 special tokens + merges)
TINY_VOCAB_SIZE = 448

#: ChatML, as SmolLM2-Instruct uses it (without its default system prompt, to keep test prompts short)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Written for this project. It repeats the pieces that labeling prompts read off a model — " A", " B", "(A)",
# "(B)", "Response", and the score digits 1 to 10 — so that the BPE learns them as single tokens.
_CORPUS = """\
Consider the conversation below and the two responses to it. Response (A) and Response (B) answer the same
question. Which response is more helpful, honest and harmless? Answer with A or B. The answer is A. The answer is B.
Response A is kinder than Response B. Response B is more honest than Response A. Choose A. Choose B. Pick A or B.
Option (A) is better. Option (B) is better. I prefer (A). I prefer (B). The better response is (A). The better
response is (B). Between A and B, the assistant should pick the response that follows the principle.

Rate the response on a scale from 1 to 10, where 1 is the worst and 10 is the best. Score: 1. Score: 2. Score: 3.
Score: 4. Score: 5. Score: 6. Score: 7. Score: 8. Score: 9. Score: 10. A score of 10 means the response is perfect,
a score of 5 means it is acceptable, and a score of 1 means it is harmful. I give it 7 out of 10. I give it 3 out of
10. Ratings: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10. Counting: 1 2 3 4 5 6 7 8 9 10 and 10 9 8 7 6 5 4 3 2 1.
Written without spaces: 1/10, 5/10, 10/10, (10), [10], score=10, rating=10, grade:10, 10/10 again, 10.

The user asked a question and the assistant gave an answer. A good assistant tells the truth, says when it does not
know, and refuses to help with things that could hurt people. It explains its reasoning in plain words and keeps its
answers short. The critic reads the principle, then the conversation, then writes a critique of the response and a
revision that fixes what the critique found. The capital of France is Paris. Water boils at 100 degrees. The sun is
a star. Please write a short poem about the sea. Here is a poem about the sea: the waves come in, the waves go out.

Principle: choose the response that is least likely to be harmful or offensive. Principle: choose the response that
is more honest about what it does not know. Critique: the response is too long and it does not answer the question.
Revision: here is a shorter answer that answers the question. Question: what is the best way to learn? Answer: read,
practice and ask questions. System: you are a helpful assistant. User: hello! Assistant: hello, how can I help you?
"""


@lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    """The trained tokenizer, serialized (training is deterministic; do it once per process)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The corpus repeated a few times: pair counts scale uniformly, so merges are the same but stable under ties.
    tokenizer.train_from_iterator(_CORPUS.splitlines() * 4, trainer=trainer)
    serialized: str = tokenizer.to_str()
    return serialized


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A small byte-level BPE tokenizer (about 450 tokens) with ChatML special tokens and chat template.

    Deterministic and offline. EOS and padding are ``<|endoftext|>`` (id 0); ``<|im_start|>`` (id 1) and
    ``<|im_end|>`` (id 2) delimit chat turns. " A", " B", "A", "B" and the numbers 1 to 10 are single tokens.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token=IM_START,
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,
        unk_token=ENDOFTEXT,
        model_max_length=512,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(token_id, int)
    return token_id


def build_tiny_model_dir(
    path: Path,
    *,
    seed: int = 0,
    num_layers: int = 2,
    hidden_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 512,
) -> Path:
    """Write a random ``LlamaForCausalLM`` with the tiny tokenizer into ``path`` and return ``path``.

    The folder holds ``config.json``, ``model.safetensors``, the tokenizer files (with the chat template) and
    ``generation_config.json`` (generation stops at ``<|endoftext|>`` or ``<|im_end|>``). The weights depend only on
    ``seed`` and the sizes: the same arguments give byte-identical weight files. The global torch RNG is left as it
    was. Takes well under a second once torch and transformers are imported.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    eos_id, im_start_id, im_end_id = (_token_id(tokenizer, t) for t in (ENDOFTEXT, IM_START, IM_END))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=False,
        bos_token_id=im_start_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=im_start_id, eos_token_id=[eos_id, im_end_id], pad_token_id=eos_id
    )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
