"""Benchmark: the at-rest residency audit of record-routed parquet, against a naive peer.

Builds one region's customer-events (N rows over several files, EU countries, with a few
planted US and unknown-country rows) in a temporary estate home, then audits it twice, each in
its own process so peak memory is measured apart:
  - ours: multicloud.governance.audit (routing column only, streamed in batches, one policy
    decision per distinct value per batch);
  - peer: what one writes first: pandas.read_parquet of every file whole and a per-row
    policy decision (row.apply).
Both must find the same violating rows. Last line: the throughput ratio ours / peer.

    python bench/governance_audit.py [--quick] [--rows N]

Each side runs twice in its process and keeps its best time (the first run pays lazy imports).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

REGION = "oci-fra"
FILES = 4


def build(home: Path, rows: int) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    planted = 0
    per_file = rows // FILES
    for index in range(FILES):
        countries = rng.choice(np.array(["DE", "FR", "IE", "NL", "IT", "ES"]), size=per_file)
        countries[rng.integers(0, per_file, size=3)] = "US"
        countries[rng.integers(0, per_file, size=2)] = "ZZ"
        planted += int(((countries == "US") | (countries == "ZZ")).sum())
        table = pa.table({"event_id": pa.array(np.arange(per_file) + index * per_file), "country": countries,
                          "spend_30d": rng.random(per_file), "sessions_30d": rng.integers(0, 90, per_file),
                          "channel": np.full(per_file, "web")})
        path = home / "storage" / REGION / "customer-events" / "dt=2026-11-29" / f"hr={index:02d}" / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=131_072)
    return planted


def ours(home: str, queue) -> None:
    os.environ["MULTICLOUD_ESTATE_HOME"] = home
    import pyarrow.compute  # imported before the clock starts, as pandas is for the peer
    import pyarrow.parquet  # noqa: F401

    from multicloud.estate import load_estate
    from multicloud.governance.audit import audit_estate

    estate = load_estate(home=home)
    elapsed = float("inf")
    for _ in range(2):  # best of two: the first run also pays lazy imports
        start = time.perf_counter()
        result = audit_estate(estate, regions=[REGION])
        elapsed = min(elapsed, time.perf_counter() - start)
    queue.put((elapsed, sum(f.rows or 0 for f in result.violations), result.rows_scanned,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def peer(home: str, queue) -> None:
    import pandas as pd
    import pyarrow.parquet  # noqa: F401

    from multicloud.estate import load_estate
    from multicloud.residency.policy import ResidencyPolicy

    estate = load_estate(home=home)
    policy = ResidencyPolicy.from_estate(estate)
    routing = estate.dataset("customer-events").routing
    elapsed = float("inf")
    for _ in range(2):  # best of two, as for ours
        start = time.perf_counter()
        denied = scanned = 0
        for path in sorted((Path(home) / "storage" / REGION / "customer-events").rglob("*.parquet")):
            frame = pd.read_parquet(path)
            allowed = frame["country"].apply(lambda c: policy.decide(
                policy.class_for_jurisdiction(routing.class_by_jurisdiction, estate.jurisdiction_of_country(c)),
                REGION).allowed)
            denied += int((~allowed).sum())
            scanned += len(frame)
        elapsed = min(elapsed, time.perf_counter() - start)
    queue.put((elapsed, denied, scanned, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def measure(target, home: str) -> tuple[float, int, int, int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(home, queue))
    process.start()
    result = queue.get(timeout=1800)
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 rows (smoke run)")
    parser.add_argument("--rows", type=int, default=4_000_000)
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        home = Path(tmp)
        planted = build(home, rows)
        print(f"{rows:,} rows in {FILES} parquet files at {REGION}; {planted} planted out-of-place rows")
        o_time, o_rows, o_scanned, o_rss = measure(ours, str(home))
        p_time, p_rows, p_scanned, p_rss = measure(peer, str(home))
        print(f"ours  (streamed, per-batch decisions): {o_time:7.2f}s  {o_scanned / o_time:12,.0f} rows/s  "
              f"found {o_rows}  peak RSS {o_rss / 1024:,.0f} MB")
        print(f"peer  (pandas whole file, per row)   : {p_time:7.2f}s  {p_scanned / p_time:12,.0f} rows/s  "
              f"found {p_rows}  peak RSS {p_rss / 1024:,.0f} MB")
        if not (o_rows == p_rows == planted):
            raise SystemExit(f"findings differ: ours {o_rows}, peer {p_rows}, planted {planted}")
        print(f"ratio: audit throughput ours/peer = {(o_scanned / o_time) / (p_scanned / p_time):.1f}x "
              f"(peak RSS ours/peer = {o_rss / p_rss:.2f})")


if __name__ == "__main__":
    main()
