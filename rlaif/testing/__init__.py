"""Helpers for tests, importable by users' own tests: tiny deterministic models built offline from a config, and
the scripted mock backend.

Importing this package does not import torch or transformers.
"""

from rlaif.backends.mock import MockBackend, MockRule, ScoreRule
from rlaif.testing.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tiny_model_dir, build_tiny_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "MockBackend",
    "MockRule",
    "ScoreRule",
    "build_tiny_model_dir",
    "build_tiny_tokenizer",
]
