"""Streamed validation of one large partition vs routing the same file: time and peak RSS.

Default: 10 million customer-event rows in one Parquet file; ``--quick``: 200,000 rows. Both run
the production code in a fresh child process (peak RSS is the child's ``ru_maxrss``):

- validation: ``runner.validate_item``'s path, ``run_expectations(iter_batches(...))`` with the
  dataset's suite (schema, unique event ids, value sets and ranges) plus the run's expectations
  (routed row count, not-null keys, residency value set), batch by batch;
- routing: ``route_partition`` of the same file to EU, UK, US and the quarantine (fsync off).

The last line is the headline: validation time / routing time (goal <= 1.5) and peak RSS
(goal <= 500 MB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")
sys.path.insert(0, PLUGINS)
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = """
import sys
sys.path.insert(0, sys.argv[3])
mode, folder = sys.argv[1], sys.argv[2]
from multicloud.sync.storage import location
if mode == "validate":
    from multicloud.sync.validation import iter_batches, load_suite, run_expectations
    countries = ["DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE", "GB", "US", "CA"]
    outcome = run_expectations(iter_batches(location("file://" + folder)), load_suite("customer_events.json"),
                               expected_rows=int(sys.argv[4]), key_columns=["event_id"],
                               residency_column="country", residency_values=countries)
    print(f"{outcome.evaluated} expectations, failed: {[f.split('(')[0] + '(' + f.split('(')[1].split(',')[0] + ')' for f in outcome.failures]}")
else:
    sys.path.insert(0, sys.argv[5])
    from routing import ours
    print(ours(__import__("pathlib").Path(folder), __import__("pathlib").Path(sys.argv[4]), fsync=False)[1])
"""


def child(args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one fresh child."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    process.stdout.close()
    process.stderr.close()
    process.returncode = 0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args[0]} failed: {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    from routing import make_source

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, help="override the row count")
    parser.add_argument("--reps", type=int, default=2, help="alternating repetitions; the best of each is kept")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        src = root / "src" / "part-00000.parquet"
        make_source(src, rows)
        print(f"source: {rows:,} rows, {src.stat().st_size / (1 << 20):.0f} MiB parquet (zstd)", flush=True)
        here = str(Path(__file__).resolve().parent)
        validations, routings = [], []
        for rep in range(1 if args.quick else args.reps):
            validations.append(child(["validate", str(root / "src"), PLUGINS, str(rows)]))
            routings.append(child(["route", str(root / "src"), PLUGINS, str(root / f"routed-{rep}"), here]))
        (t_val, rss_val, outcome), (t_route, rss_route, _) = min(validations), min(routings)
        print(f"validation: {outcome} (the source is unrouted: its planted null and unknown countries must fail)")
        print(f"validation {t_val:6.2f}s, peak RSS {rss_val:.0f} MiB;  routing {t_route:6.2f}s, peak RSS "
              f"{rss_route:.0f} MiB (each a fresh process, imports included; best of {len(validations)})")
        print(f"validation time ours/routing: {t_val / t_route:.2f}x (goal <= 1.5); peak RSS {rss_val:.0f} MiB "
              "(goal <= 500 MB)")


if __name__ == "__main__":
    main()
