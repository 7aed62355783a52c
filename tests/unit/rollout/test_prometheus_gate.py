"""Flagger-style metric checks: gates query Prometheus (tests/emulators/prometheus.py) for the version's
success rate and p95 over the window, from the pods' own /metrics; a bad version fails and rolls back.

Real: the model-server pods (processes of the serving entrypoint in the Kubernetes emulator), their
/metrics, the scrapes, the PromQL the gate sends over HTTP, the DAG's task functions (plan, deploy,
gate, rollback). The bad version changed its input schema (a renamed feature): its own smoke cases
pass, but the clients' requests get 400, which only the metrics see.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import urllib.request
from pathlib import Path

import pytest

from multicloud.drivers import ModelDeployment, driver_for
from multicloud.estate import load_estate
from multicloud.rollout import engine
from multicloud.rollout.run import build_plan, deploy_lane, gate_stage, rollback_if_needed
from multicloud.rollout.settings import RolloutSettings
from multicloud.serving.model import LogisticModel
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES
from multicloud.training import artifacts
from multicloud.waiting import wait_until
from tests.emulators.prometheus import PrometheusEmulator, kubernetes_pod_targets, parse_exposition
from tests.kube_estate import estate_yaml, start_clusters, stop_all, use_estate

CLIENT_ROW = dict(zip(CUSTOMER_EVENT_FEATURES, (12.0, 80.0, 1.2, 36.0), strict=True))


def publish(estate, version: str, features: tuple[str, ...]) -> None:
    model = LogisticModel(model="churn-eu", version=version, data_class="eu-personal", features=features,
                          mean=(12.0, 80.0, 1.2, 36.0), scale=(3.5, 55.0, 1.1, 20.0), coef=(-0.8, -0.4, 0.9, -0.6),
                          intercept=-0.5)
    root = Path(artifacts.artifact_uri(estate, "churn-eu", version).removeprefix("file://"))
    root.mkdir(parents=True, exist_ok=True)
    body = model.to_json()
    (root / "model.json").write_text(body)
    instance = dict(zip(features, CLIENT_ROW.values(), strict=True))
    card = {"model": "churn-eu", "version": version, "data_class": "eu-personal",
            "trained_at": "2026-11-29T10:00:00+00:00", "artifact_sha256": hashlib.sha256(body.encode()).hexdigest(),
            "smoke_cases": [{"instance": instance, "expected": model.predict(instance)}]}
    (root / "card.json").write_text(json.dumps(card))


class Clients(threading.Thread):
    """Production traffic in the current schema, through the cluster's ingress to the model's Service."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()

    def run(self) -> None:
        body = json.dumps({"instances": [CLIENT_ROW]}).encode()
        while not self.stop.wait(0.02):
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
            with contextlib.suppress(OSError):  # a 400 from the bad version is what its metrics must show
                urllib.request.urlopen(request, timeout=2).read()


def test_promql_over_scraped_exposition():
    prometheus = PrometheusEmulator(targets=list)
    text = ('model_server_requests_total{model="m",version="v",code="200"} %d\n'
            'model_server_requests_total{model="m",version="v",code="400"} %d\n'
            'model_server_request_duration_seconds_bucket{model="m",version="v",le="0.01"} %d\n'
            'model_server_request_duration_seconds_bucket{model="m",version="v",le="0.1"} %d\n'
            'model_server_request_duration_seconds_bucket{model="m",version="v",le="+Inf"} %d\n')
    at = 1000.0
    for t, (ok, bad, fast, medium, total) in [(990.0, (0, 0, 0, 0, 0)), (1000.0, (90, 10, 50, 100, 100))]:
        for name, labels, value in parse_exposition(text % (ok, bad, fast, medium, total)):
            key = tuple(sorted({**labels, "__name__": name, "instance": "pod"}.items()))
            prometheus.series.setdefault(key, []).append((t, value))
    rate = prometheus.evaluate('sum(rate(model_server_requests_total{model="m",code=~"2.."}[30s])) / '
                               'sum(rate(model_server_requests_total{model="m"}[30s]))', at)
    assert rate == {(): pytest.approx(0.9)}
    p95 = prometheus.evaluate('histogram_quantile(0.95, sum by (le) (rate('
                              'model_server_request_duration_seconds_bucket{version="v"}[30s]))) * 1000', at)
    # rank 95 of 100 lies in (0.01, 0.1] holding 50: 0.01 + 0.09 * 45/50 = 0.091 s
    assert p95 == {(): pytest.approx(91.0)}
    assert prometheus.evaluate('sum(rate(model_server_requests_total{model="other"}[30s]))', at) == {}
    assert prometheus.evaluate('(sum(rate(model_server_requests_total{code="500"}[30s])) or vector(0)) / '
                               'sum(rate(model_server_requests_total[30s]))', at) == {(): 0.0}
    # No sample in the window: no result (the gate reads that as unverified, never as passing).
    assert prometheus.evaluate(
        'histogram_quantile(0.5, sum by (le) (rate(model_server_request_duration_seconds_bucket[5s])))', 1100.0) == {}
    with pytest.raises(ValueError, match="range selector"):
        prometheus.evaluate("rate(model_server_requests_total)", at)


@pytest.mark.timeout(240)
def test_bad_versions_metrics_fail_the_gate_and_it_rolls_back(estate_home, tmp_path, monkeypatch):
    clusters = start_clusters(["oke-fra"], monkeypatch, tmp_path / "pods")
    emulator = clusters["oke-fra"]
    prometheus = PrometheusEmulator(kubernetes_pod_targets(emulator), scrape_interval_s=0.2).start()
    text = estate_yaml(clusters).replace(
        "      driver: kubernetes\n",
        f"      driver: kubernetes\n      prometheus: {{url: '{prometheus.url}', window_s: 3}}\n", 1)
    use_estate(text, tmp_path / "estate.yaml", monkeypatch)
    estate = load_estate(home=estate_home)
    clients = Clients(f"{emulator.ingress_url}/models/churn-eu/predict")
    try:
        publish(estate, "v1", CUSTOMER_EVENT_FEATURES)
        renamed = ("sessions_last_30d", *CUSTOMER_EVENT_FEATURES[1:])  # v2 renamed its first input
        publish(estate, "v2", renamed)
        driver = driver_for(estate, "oke-fra", estate_home)
        driver.deploy(ModelDeployment("churn-eu", "v1", 1, artifacts.artifact_uri(estate, "churn-eu", "v1"),
                                      runtime=estate.runtime.model_dump(mode="json")))
        assert driver.wait_ready("churn-eu", "v1", 60).state == "complete"
        clients.start()
        scraped = wait_until(lambda: any(dict(k).get("version") == "v1" and len(points) >= 3
                                         for k, points in prometheus.series.items()), 60, interval_s=0.1)
        assert scraped, f"Prometheus never scraped the v1 pod: {prometheus.scrape_errors[-3:]}"
        params = {"model": "churn-eu", "clusters": ["oke-fra"], "strategy": "canary", "max_parallel": 1,
                  "gate_checks": 2, "gate_interval_s": 1.5, "gate_p95_ms": 2000}

        # The serving version passes: its metrics (clients' traffic and probes, all 200) are good.
        item = {"cluster": "oke-fra", "model": "churn-eu", "version": "v1", "replicas": 1}
        [passed] = gate_stage(estate, "canary", [[item]], RolloutSettings.from_params({**params, "version": "v1"}), "check-v1", estate_home)
        assert passed["passed"], passed["reason"]
        assert passed["prometheus"]["success_rate"] == 1.0
        assert 0 < passed["prometheus"]["p95_ms"] <= 2000

        run_id = "prometheus-bad-v2"
        plan = build_plan(estate, RolloutSettings.from_params({**params, "version": "v2"}), [], home=estate_home)
        [canary] = plan["stages"][0]
        deploy_lane(estate, canary, "canary", run_id, 60, estate_home)
        with pytest.raises(engine.RolloutFailed, match="prometheus success rate") as failed:
            gate_stage(estate, "canary", [canary], RolloutSettings.from_params({**params, "version": "v2"}), run_id, estate_home)
        assert "smoke" not in str(failed.value)  # v2's own smoke cases answered right: only the metrics saw it
        restored = rollback_if_needed(estate, run_id, estate_home)
        assert restored[0]["restored"] == {"v1": 1}
        served = driver.served()["churn-eu"]
        assert (served["versions"], served["weights"]) == ({"v1": 1}, {"v1": 100})
        assert any('version="v2"' in q and "histogram_quantile" in q for q in prometheus.queries)
    finally:
        clients.stop.set()
        prometheus.stop()
        errors = list(emulator.errors)
        stop_all(clusters)
    assert not errors
