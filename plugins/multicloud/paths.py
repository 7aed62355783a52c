"""Where the estate file and the estate home (local storage, state, reports) live.

Resolution order for the estate file: explicit argument, ``MULTICLOUD_ESTATE`` environment
variable, then ``include/estate/local.yaml`` of this checkout. DAG tasks may also pass the
Airflow Variable ``multicloud_estate`` (read inside tasks, never at parse time).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
DEFAULT_ESTATE_FILE = INCLUDE_DIR / "estate" / "local.yaml"

ESTATE_FILE_ENV = "MULTICLOUD_ESTATE"
MAX_ESTATE_BYTES = 1 << 20  # 1 MiB (the shipped estates are under 10 KB); the loader refuses larger files
ESTATE_HOME_ENV = "MULTICLOUD_ESTATE_HOME"


def estate_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(ESTATE_FILE_ENV) or DEFAULT_ESTATE_FILE
    path = Path(chosen)
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def estate_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(ESTATE_HOME_ENV) or (PROJECT_ROOT / ".estate")
    path = Path(chosen)
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def reports_dir(home: Path | None = None) -> Path:
    return (home or estate_home()) / "reports"


def state_dir(home: Path | None = None) -> Path:
    return (home or estate_home()) / "state"


# ---- the one path-safety rule for every write -----------------------------------------------------
class UnsafePath(ValueError):
    """A path built from a Param, a run id, a version or an estate field would leave its prefix."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DRIVE = re.compile(r"^[A-Za-z]:(/|$)")
_MAX_SEGMENT = 255


def _forms(value: str, what: str) -> set[str]:
    """``value`` as written, percent-decoded (up to three times) and NFKC-normalised: a
    ``%2e%2e`` or a full-width ``U+FF0E U+FF0E`` is judged as the ``..`` it may become downstream."""
    forms, current = {value}, value
    for _ in range(3):
        try:
            current = unquote(current, errors="strict")
        except UnicodeDecodeError:  # an overlong or broken escape (%c0%ae) may decode to '.' elsewhere
            raise UnsafePath(f"{what}: {value!r} has an invalid percent-encoding") from None
        forms.add(current)
    return forms | {unicodedata.normalize("NFKC", f) for f in forms}


def clean_relative(value: object, what: str = "path") -> str:
    """``value`` as a normalised relative object path (``a/./b//c/`` -> ``a/b/c``).

    Refused, with one line naming ``what``: anything not a string, empty, absolute (``/x``,
    ``~x``, ``C:x``), a ``..`` segment (also percent-encoded or in Unicode look-alikes), a
    backslash, control characters, an encoded ``/``, a segment longer than 255 bytes.
    """
    if not isinstance(value, str):
        raise UnsafePath(f"{what}: expected a string, got {type(value).__name__}")
    for form in _forms(value, what):
        if _CONTROL.search(form):
            raise UnsafePath(f"{what}: {value!r} contains a control character")
        if "\\" in form:
            raise UnsafePath(f"{what}: {value!r} contains a backslash")
        if form.startswith(("/", "~")) or _DRIVE.match(form):
            raise UnsafePath(f"{what}: {value!r} is absolute; expected a path relative to its prefix")
        if any(segment.strip() == ".." for segment in form.split("/")):
            raise UnsafePath(f"{what}: {value!r} has a '..' segment (it would leave its prefix)")
        if form.count("/") != value.count("/"):
            raise UnsafePath(f"{what}: {value!r} hides a '/' in an encoding")
    segments = [s for s in value.split("/") if s not in ("", ".")]
    if not segments:
        raise UnsafePath(f"{what}: {value!r} is empty")
    if any(len(s.encode()) > _MAX_SEGMENT for s in segments):
        raise UnsafePath(f"{what}: a segment of {value[:40]!r}... is longer than {_MAX_SEGMENT} bytes")
    return "/".join(segments)


def clean_name(value: object, what: str = "name") -> str:
    """One path segment (a version, a run id, a dataset id): ``clean_relative`` without ``/``."""
    cleaned = clean_relative(value, what)
    if "/" in cleaned:
        raise UnsafePath(f"{what}: {value!r} must be one name, not a path")
    return cleaned


def _local_path(base: str) -> str | None:
    split = urlsplit(base)
    if split.scheme == "file":
        return split.path
    return base if split.scheme == "" else None


@lru_cache(maxsize=1024)
def _resolved_root(local: str) -> str:
    """``os.path.realpath`` of a prefix (an estate home, a region's storage root, a partition), cached.

    Only prefixes are cached, never the path being checked: every join still resolves its own
    target. A prefix re-pointed elsewhere after its first use (a symlink swapped under a running
    process) can only make targets fall outside the cached resolution, i.e. be refused: the cache
    fails closed. Resolving the same few prefixes for every object of a sync run was a fifth of a
    region task's time (about 10 ``lstat`` calls each, thousands of times)."""
    return os.path.realpath(local)


def join_within(base: str, *parts: str, what: str = "path") -> str:
    """``base`` (a storage URL or a local path) joined with ``parts``; never outside ``base``.

    Each part goes through :func:`clean_relative`; on a local filesystem the result is also
    resolved (symlinks followed) and must stay inside the resolved ``base`` (its resolution is
    cached per process: see ``_resolved_root``).
    """
    relative = "/".join(clean_relative(p, what) for p in parts if p != "")
    joined = f"{base.rstrip('/')}/{relative}" if relative else base
    local = _local_path(base)
    if local is not None and relative:
        root = _resolved_root(local)
        target = os.path.realpath(_local_path(joined) or joined)
        if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
            raise UnsafePath(f"{what}: {relative!r} resolves to {target}, outside {root}")
    return joined


def home_path(home: Path | None, *parts: str, what: str = "estate home path") -> Path:
    """A file or folder under the estate home (reports, state, ledgers, journals), never outside it."""
    base = (home or estate_home()).resolve()
    return Path(join_within(str(base), *parts, what=what))


def check_within(url: str, base: str, what: str = "url") -> str:
    """``url`` must be ``base`` or lie under it (same scheme and host; segment-wise prefix)."""
    split, root = urlsplit(url), urlsplit(base)
    segments, prefix = _segments(split, what), _segments(root, what)
    if split.scheme != root.scheme or segments[: len(prefix)] != prefix:
        raise UnsafePath(f"{what}: {url!r} is outside its region's storage {base!r}")
    if _local_path(base) is not None and segments != prefix:
        join_within(base, "/".join(segments[len(prefix):]), what=what)
    return url


def check_url(url: str, what: str = "storage url") -> str:
    """A storage URL with no ``..`` (plain, encoded or look-alike), control character or backslash."""
    _segments(urlsplit(url), what)
    return url


def _segments(split, what: str) -> list[str]:
    text = f"{split.netloc}/{split.path}".lstrip("/")
    return clean_relative(text, what).split("/") if text.strip("/") else []


def safe_run_id(run_id: str) -> str:
    """A run id as one file or folder name (``manual__2026-11-29T14:25:29+00:00`` has ':' and '+').

    Never ``.``/``..`` or a hidden name, never longer than 200 characters (a hash keeps it unique).
    """
    name = re.sub(r"^\.", "_", re.sub(r"[^A-Za-z0-9._-]+", "_", str(run_id))) or "_"
    if len(name) > 200:
        name = f"{name[:180]}-{hashlib.sha256(str(run_id).encode()).hexdigest()[:16]}"
    return clean_name(name, "run id")
