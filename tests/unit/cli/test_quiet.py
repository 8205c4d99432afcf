"""Library deprecation notices stay off the terminal; other warnings still show."""

from __future__ import annotations

import logging
import warnings

import pytest

from rlaif.cli._quiet import quiet_library_deprecations


def test_deprecation_warnings_and_log_records_are_hidden(caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        quiet_library_deprecations("run")
        warnings.warn("`past_key_values` is deprecated and will be removed", FutureWarning, stacklevel=1)
        warnings.warn("something else went wrong", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else went wrong"]
    logger = logging.getLogger("transformers.utils.generic")
    handler = logging.getLogger("transformers").handlers
    assert handler, "transformers' own handler was filtered"
    record = logger.makeRecord(
        logger.name, logging.WARNING, "f", 1, "`cache_params` are deprecated", (), None
    )
    assert not all(f.filter(record) for f in handler[0].filters)
    ok = logger.makeRecord(logger.name, logging.WARNING, "f", 1, "model weights not found", (), None)
    assert all(f.filter(ok) for f in handler[0].filters)


def test_transformers_loading_bars_are_off_after_quieting() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    try:
        quiet_library_deprecations("run")
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
