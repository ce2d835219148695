"""structlog events below their logger's level are dropped before any processor runs (issue 22: a
worker at WARNING spent ~2.5 % of its forwarding CPU stamping and redacting INFO events nobody wrote);
events at or above the level are emitted, processed and redacted as before."""

from __future__ import annotations

import logging

import pytest
import structlog

from blinkpos.logging import get_logger


def test_the_level_filter_runs_before_the_other_processors() -> None:
    assert structlog.get_config()["processors"][0] is structlog.stdlib.filter_by_level


def test_an_event_below_the_level_is_dropped_and_one_at_the_level_is_emitted(caplog: pytest.LogCaptureFixture) -> None:
    name = "tests.logging_levels"
    log = get_logger(name)
    with caplog.at_level(logging.WARNING, logger=name):
        log.info("below.the.level", leg_id=1)
        log.warning("at.the.level", leg_id=2)
    messages = [r.getMessage() for r in caplog.records if r.name == name]
    assert len(messages) == 1 and "at.the.level" in messages[0]
