"""The two small guards of issue 14: log lines cannot be forged through logged data, and JSON
nesting is measured without recursion before anything is parsed."""

from __future__ import annotations

import json
import logging

import pytest

from trainlytics.errors import JsonTooDeepError
from trainlytics.json_limits import json_depth, loads_bounded
from trainlytics.logs import escape_control_characters, get_logger


def test_a_newline_in_logged_data_cannot_start_a_forged_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("trainlytics.test_forgery")
    caplog.set_level(logging.INFO, logger="trainlytics.test_forgery")
    log.info("user %s did %s", "a\nCRITICAL root: forged", "x\r\x1b[31m\u2028y\x00")
    (record,) = caplog.records
    message = record.getMessage()
    assert message == "user a\\nCRITICAL root: forged did x\\r\\x1b[31m\\u2028y\\x00"
    formatted = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert formatted.count("\n") == 0


def test_get_logger_attaches_its_filter_once() -> None:
    first = get_logger("trainlytics.test_once")
    second = get_logger("trainlytics.test_once")
    assert first is second
    assert len(first.filters) == 1


def test_escaping_keeps_ordinary_text() -> None:
    assert escape_control_characters("Zürich 5:00 /km — ok") == "Zürich 5:00 /km — ok"


def test_json_depth_skips_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    assert json_depth(b"[]" * 1000) == 1


def test_loads_bounded_refuses_deep_json_without_recursing() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(JsonTooDeepError):
        loads_bounded(deep)
    with pytest.raises(ValueError, match="deeper than 3"):
        loads_bounded(b'{"a": {"b": {"c": {}}}}', max_depth=3)
    assert loads_bounded(json.dumps({"a": [1, {"b": 2}]})) == {"a": [1, {"b": 2}]}
