"""``python -m multicloud.estate validate [FILE ...]``: prints OK or every problem; exit 1 on any."""

from __future__ import annotations

import argparse
import sys

from multicloud.estate.loader import EstateError, load_estate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multicloud.estate")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate estate files")
    validate.add_argument("files", nargs="*", help="estate YAML files (default: the configured one)")
    args = parser.parse_args(argv)

    failed = False
    for file in args.files or [None]:
        try:
            estate = load_estate(file)
        except EstateError as exc:
            failed = True
            print(exc, file=sys.stderr)
            continue
        clusters = len(estate.clusters())
        print(
            f"OK {file or 'default estate'}: {len(estate.regions)} regions, {clusters} clusters, "
            f"{len(estate.data_classes)} data classes, {len(estate.datasets)} datasets, "
            f"{len(estate.models)} models, {len(estate.workloads)} workloads, {len(estate.dr_pairs)} DR pairs"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
