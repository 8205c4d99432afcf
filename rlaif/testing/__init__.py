"""Helpers for tests, importable by users' own tests: tiny deterministic models built offline from a config.

Importing this package does not import torch or transformers.
"""

from rlaif.testing.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tiny_model_dir, build_tiny_tokenizer

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_model_dir", "build_tiny_tokenizer"]
