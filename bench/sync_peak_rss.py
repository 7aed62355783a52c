"""Peak RSS while syncing one large object (default 2 GiB; ``--quick``: 16 MiB), ours vs rclone.

Each tool runs in its own child process; peak RSS is the child's ``ru_maxrss``. Ours streams in
8 MiB chunks, so its peak is the interpreter plus a few chunks, whatever the object's size.
The last line is the headline (our peak, and the ratio to rclone's).
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
CHILD = """
import sys
sys.path.insert(0, sys.argv[3])
from multicloud.sync.copier import sync_tree
from multicloud.sync.storage import location
stats = sync_tree(location("file://" + sys.argv[1]), location("file://" + sys.argv[2]))
assert stats.copied == 1, stats
"""


def make_object(path: Path, size: int) -> None:
    block = os.urandom(64 << 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            handle.write(written.to_bytes(8, "big") + piece[8:])  # no two blocks alike
            written += len(piece)


def peak_rss_mib(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``command`` in a fresh child; (peak RSS MiB, seconds). Peak RSS is per child via wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[0]} failed: {process.stderr.read().decode()[-2000:]}")
    process.stderr.close()
    process.returncode = 0
    return usage.ru_maxrss / 1024, elapsed  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_object(Path(args.make[0]), int(args.make[1]))
        return
    size = (16 << 20) if args.quick else (2 << 30)
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        root = Path(tmp)
        # written by a child: a forked child inherits the parent's RSS high-water mark, so the parent stays small
        subprocess.run([sys.executable, __file__, "--make", str(root / "src" / "big.bin"), str(size)], check=True)
        ours_rss, ours_s = peak_rss_mib([sys.executable, "-c", CHILD, str(root / "src"), str(root / "ours"), PLUGINS])
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"} | {"RCLONE_CONFIG": os.devnull}
        rclone = str(Path(sys.executable).parent / "rclone")
        rclone_rss, rclone_s = peak_rss_mib([rclone, "sync", str(root / "src"), str(root / "rclone")], env)
        baseline, _ = peak_rss_mib([sys.executable, "-c", f"import sys; sys.path.insert(0, {PLUGINS!r}); "
                                    "import multicloud.sync.copier"])
        print(f"object: {size / (1 << 30):.2f} GiB; ours {ours_s:.1f}s, rclone {rclone_s:.1f}s")
        print(f"peak RSS: ours {ours_rss:.0f} MiB (interpreter + imports alone {baseline:.0f} MiB), "
              f"rclone {rclone_rss:.0f} MiB")
        print(f"peak RSS ours {ours_rss:.0f} MiB (goal <= 300 MB); ours/rclone: {ours_rss / rclone_rss:.2f}x")


if __name__ == "__main__":
    main()
