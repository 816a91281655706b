"""The counter's EMF metrics line: one per invocation, valid Embedded Metric Format, as Lambda writes it."""

from __future__ import annotations

import json
import logging
import os

import pytest

from route_counter.handler import counter
from route_counter.handler.web import metrics
from route_counter.handler.rules.limits import parse_rate_limits
from local.events import build_event
from tests.conftest import START

# What Lambda's Python runtime leaves out of a JSON log line when it copies a record's attributes
# (awslambdaric, lambda_runtime_log_utils._RESERVED_FIELDS); everything else lands at the top level.
RESERVED = {"name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
            "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
            "processName", "process", "aws_request_id", "tenant_id", "_frame_type", "taskName"}


def as_lambda_writes_it(record: logging.LogRecord) -> dict:
    line = {"timestamp": "2026-11-24T05:30:00.000Z", "level": record.levelname, "message": record.getMessage(),
            "logger": record.name}
    line.update((k, v) for k, v in record.__dict__.items() if k not in RESERVED and k not in line)
    return json.loads(json.dumps(line))


def assert_valid_emf(line: dict) -> None:
    """The EMF specification's rules: _aws.Timestamp in ms, each directive's dimensions and metrics present
    as top-level members, dimension values strings, metric values numbers."""
    aws = line["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] == int(START * 1000)
    for directive in aws["CloudWatchMetrics"]:
        assert directive["Namespace"] == metrics.NAMESPACE
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30 and all(isinstance(line[d], str) for d in dimension_set)
        for metric in directive["Metrics"]:
            assert isinstance(line[metric["Name"]], (int, float)) and metric["Unit"] == "Count"


def run(monkeypatch, writer, caplog, method, target, settings=None, headers=()):
    monkeypatch.setattr(counter, "SETTINGS", (settings or counter.SETTINGS)._replace(writer="botocore"))
    monkeypatch.setattr(counter, "_client", writer())
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "route-counter-counter-1a2b3c4")
    caplog.clear()
    event, _ = build_event(method, target, headers)
    with caplog.at_level(logging.INFO, logger="route_counter"):
        answer = counter.handler(event, None)
    lines = [as_lambda_writes_it(r) for r in caplog.records if r.name == metrics.LOGGER.name]
    return answer, lines


@pytest.mark.parametrize(("method", "target", "metric", "reason"), [
    ("GET", "/hello", "Hits", None),
    ("GET", "/a%ZZ", "Rejected", "bad_encoding"),
    ("GET", "/_counts/x", "Rejected", "reserved_route"),
    ("GET", "/" + "x" * 2000, "Rejected", "route_too_long"),
])
def test_each_invocation_logs_one_valid_emf_line(monkeypatch, writer, caplog, method, target, metric, reason):
    answer, lines = run(monkeypatch, writer, caplog, method, target)
    assert len(lines) == 1
    line = lines[0]
    assert_valid_emf(line)
    assert line["level"] == "INFO" and line[metric] == 1 and line["FunctionName"] == "route-counter-counter-1a2b3c4"
    assert line.get("Reason") == reason
    assert not set(line) & set(metrics.METRICS) - {metric}


def test_rate_limited_and_unknown_outcomes_have_their_own_metrics(monkeypatch, writer, caplog):
    limited = counter.SETTINGS._replace(limits=parse_rate_limits("/login=1/1m"))
    assert run(monkeypatch, writer, caplog, "GET", "/login", limited)[1][0]["Hits"] == 1
    answer, lines = run(monkeypatch, writer, caplog, "GET", "/login", limited)
    assert answer["statusCode"] == 429 and lines[0]["RateLimited"] == 1
    writer.lose_response("UpdateItem", 1)
    answer, lines = run(monkeypatch, writer, caplog, "GET", "/other")
    assert answer["statusCode"] == 503 and lines[0]["OutcomeUnknown"] == 1


def test_preflights_emit_nothing_and_metrics_never_cost_an_answer(monkeypatch, writer, caplog):
    assert run(monkeypatch, writer, caplog, "OPTIONS", "/hello")[1] == []
    monkeypatch.setattr(metrics, "document", lambda *a: 1 / 0)
    answer, lines = run(monkeypatch, writer, caplog, "GET", "/hello")
    assert answer["statusCode"] == 200 and [line["message"] for line in lines] == ["metrics line failed"]


def test_no_route_or_client_data_in_the_metrics_line(monkeypatch, writer, caplog):
    _, lines = run(monkeypatch, writer, caplog, "GET", "/secret/path", headers=[("User-Agent", "agent-x")])
    text = json.dumps(lines)
    assert "/secret/path" not in text and "agent-x" not in text
    assert os.environ.get("AWS_LAMBDA_FUNCTION_NAME") == "route-counter-counter-1a2b3c4"
