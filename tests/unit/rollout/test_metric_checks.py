"""rollout.metric_checks against canned Prometheus answers: values read right, and fail closed."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from multicloud.rollout.gates import Thresholds
from multicloud.rollout.metric_checks import check, instant_query, queries

URL = "http://prometheus.test:9090"


def _vector(value: str) -> tuple[int, bytes]:
    return 200, json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, value]}]}}
    ).encode()


def _answers(success_rate: tuple[int, bytes], p95: tuple[int, bytes]):
    """A fetch answering the success-rate query and the p95 query; records every URL asked."""
    asked: list[str] = []

    def fetch(url: str, body: bytes | None) -> tuple[int, bytes]:
        asked.append(url)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["query"][0]
        return p95 if query.startswith("histogram_quantile") else success_rate

    return fetch, asked


def test_queries_select_the_version_and_round_the_window_up():
    built = queries("churn-eu", 'v"2', 1.2)
    assert '{model="churn-eu",version="v\\"2",code=~"2.."}[2s]' in built["success_rate"]  # a PromQL literal
    assert built["p95_ms"].startswith("histogram_quantile(0.95, ")
    assert built["p95_ms"].endswith("[2s]))) * 1000")


def test_a_healthy_version_passes_with_its_values():
    fetch, asked = _answers(_vector("0.995"), _vector("120.04"))
    verdict = check(URL, "churn-eu", "v2", 30, Thresholds(), fetch)
    assert verdict.values == {"success_rate": 0.995, "p95_ms": 120.04}
    assert verdict.failures == []
    assert len(asked) == 2
    assert all(a.startswith(f"{URL}/api/v1/query?query=") for a in asked)


def test_a_slow_or_failing_version_fails_naming_each_threshold():
    fetch, _ = _answers(_vector("0.9"), _vector("400"))
    verdict = check(URL, "churn-eu", "v2", 30, Thresholds(success_rate_min=0.99, p95_ms_max=250), fetch)
    assert verdict.failures == [
        "prometheus success rate 0.900 < 0.99 over 30s",
        "prometheus p95 400.0 ms > 250 ms over 30s",
    ]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()), "no data"),
        (
            (
                200,
                json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "NaN"]}]}}
                ).encode(),
            ),
            "no data",
        ),
        (
            (400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode()),
            "HTTP 400: bad_data: parse error",
        ),
        ((502, b"<html>bad gateway</html>"), "HTTP 502 with no JSON"),
        (
            (
                200,
                json.dumps(
                    {
                        "status": "success",
                        "data": {"resultType": "vector", "result": [{"value": [1, "1"]}, {"value": [1, "0.5"]}]},
                    }
                ).encode(),
            ),
            "expected one series, got 2",
        ),
    ],
)
def test_an_answer_without_one_value_fails_closed_as_unverified(answer, reason):
    fetch, _ = _answers(answer, _vector("100"))
    verdict = check(URL, "churn-eu", "v2", 30, Thresholds(), fetch)
    [failure] = verdict.failures
    assert failure.startswith("prometheus success_rate unverified: ")
    assert reason in failure
    assert verdict.values == {"p95_ms": 100.0}  # the other check still ran


def test_a_scalar_answer_is_read_too():
    scalar = (200, json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "0.25"]}}).encode())
    assert instant_query(URL, "vector(0.25)", lambda url, body: scalar) == 0.25
