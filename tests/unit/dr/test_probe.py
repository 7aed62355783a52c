"""The probe (a real process) samples an endpoint continuously and is stopped only when it is a probe."""

from __future__ import annotations

from multicloud.dr.probe import read_samples, start_probe, stop_probe
from tests.unit.dr.backend_servers import waited


def test_probe_process_samples_continuously_and_maps_clusters_to_regions(tmp_path, backends):
    fra, _ = backends
    out = tmp_path / "probe.jsonl"
    pid = start_probe(fra.url, out, {"instances": []}, interval_s=0.05, cluster_regions={"oke-fra": "oci-fra"})
    try:
        waited(lambda: len(read_samples(out)) >= 3, 30, "three probe samples")
    finally:
        assert stop_probe(None, out)  # found through the pid file beside its samples
    assert out.with_suffix(".pid").read_text() == str(pid)
    assert not stop_probe(pid)  # already gone
    samples = read_samples(out)
    assert len(samples) >= 3
    assert {(s.status, s.region, s.version) for s in samples} == {(200, "oci-fra", "v1")}
    assert samples == sorted(samples, key=lambda s: s.t)


def test_a_recorded_pid_now_used_by_another_process_is_not_killed(tmp_path):
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out = tmp_path / "probe.jsonl"
        out.with_suffix(".pid").write_text(str(other.pid))  # a stale pid file, the pid reused since
        assert not stop_probe(None, out)
        assert not stop_probe(other.pid)
        assert other.poll() is None  # still running: only a probe is ever stopped
    finally:
        other.kill()
        other.wait()
