"""Full sync and unchanged re-sync, local to local: our copier vs `rclone sync`, same data, same run.

Default: 1,024 files of 1 MiB (1 GiB). ``--quick``: 64 files of 256 KiB. Both tools verify:
ours SHA-256 of what it wrote (and fsyncs before the rename), rclone its default hash check.
The last line is the headline ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from multicloud.sync.copier import sync_tree
from multicloud.sync.storage import location


def make_source(root: Path, files: int, size: int) -> int:
    block = os.urandom(size + 4096)
    for i in range(files):
        path = root / f"dir-{i % 32:02d}" / f"object-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        # distinct content per file: a different offset into a random block plus the index
        path.write_bytes(i.to_bytes(8, "big") + block[i % 4096: i % 4096 + size - 8])
    return files * size


def rclone(src: Path, dst: Path) -> float:
    binary = Path(sys.executable).parent / "rclone"
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env["RCLONE_CONFIG"] = os.devnull
    started = time.perf_counter()
    subprocess.run([str(binary), "sync", str(src), str(dst)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def rclone_startup(empty: Path) -> float:
    """rclone's fixed process cost (ours runs in-process): subtracted so the ratio is conservative."""
    empty.mkdir(exist_ok=True)
    return min(rclone(empty, empty.with_name("empty-copy")) for _ in range(3))


def ours(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions; the best of each is kept")
    args = parser.parse_args()
    if args.quick:
        args.reps = 1
    files, size = (64, 256 * 1024) if args.quick else (1024, 1 << 20)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        total = make_source(root / "src", files, size)
        mib = total / (1 << 20)
        print(f"source: {files} files, {mib:.0f} MiB")
        rclone(root / "src", root / "warm")  # warm the page cache for both the same way
        shutil.rmtree(root / "warm")
        # alternate the tools and keep each one's best: the machine is shared and noisy
        full_ours, full_rclone, re_ours, re_rclone = [], [], [], []
        for _ in range(args.reps):
            for target in ("dst-ours", "dst-rclone"):
                shutil.rmtree(root / target, ignore_errors=True)
            full_ours.append(ours(root / "src", root / "dst-ours"))
            full_rclone.append(rclone(root / "src", root / "dst-rclone"))
            re_ours.append(ours(root / "src", root / "dst-ours"))
            re_rclone.append(rclone(root / "src", root / "dst-rclone"))
        t_ours, t_rclone, r_ours, r_rclone = min(full_ours), min(full_rclone), min(re_ours), min(re_rclone)
        print(f"full sync   ours {t_ours:6.2f}s ({mib / t_ours:7.1f} MiB/s)   rclone {t_rclone:6.2f}s "
              f"({mib / t_rclone:7.1f} MiB/s)   best of {args.reps}")
        start = rclone_startup(root / "empty")
        print(f"re-sync     ours {r_ours:6.3f}s   rclone {r_rclone:6.3f}s (nothing changed; rclone process start "
              f"{start:.3f}s)")
        print(f"unchanged re-sync time ours/(rclone - its start): {r_ours / max(r_rclone - start, 1e-3):.2f}x "
              f"(as measured: {r_ours / r_rclone:.2f}x; goal <= 1.0)")
        print(f"full sync throughput ours/rclone: {(t_rclone - start) / t_ours:.2f}x with rclone's start "
              f"subtracted (as measured {t_rclone / t_ours:.2f}x; goal >= 1.0)")


if __name__ == "__main__":
    main()
