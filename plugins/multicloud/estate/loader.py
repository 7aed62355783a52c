"""Load and validate an estate file; every problem names the file, the field path and the fix.

The estate is parsed once per process (cached on path, modification time and estate home), so
a DAG file and every task of a run see one consistent estate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from multicloud import paths
from multicloud.estate.models import _PATH_RE, _REFERENCE_MARK, Estate


@dataclass(frozen=True)
class EstateProblem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class EstateError(ValueError):
    """The estate file cannot be used. ``problems`` lists every reason, not just the first."""

    def __init__(self, problems: list[EstateProblem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid estate ({len(problems)} problem(s)):\n{lines}")


def load_estate(
    file: str | os.PathLike[str] | None = None, home: str | os.PathLike[str] | None = None
) -> Estate:
    path = paths.estate_file(file)
    estate_home = paths.estate_home(home)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise EstateError([EstateProblem(str(path), "<file>", f"cannot read: {exc.strerror}")]) from None
    return _load_cached(str(path), mtime, str(estate_home))


@lru_cache(maxsize=16)
def _load_cached(path: str, _mtime: int, home: str) -> Estate:
    return parse_estate(Path(path).read_text(encoding="utf-8"), source=path, home=home)


def parse_estate(text: str, source: str = "<string>", home: str | None = None) -> Estate:
    home = home or str(paths.estate_home())
    try:
        raw = yaml.safe_load(text.replace("{estate_home}", home))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise EstateError([EstateProblem(source, where, f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise EstateError([EstateProblem(source, "<root>", "expected a mapping of estate sections")])
    try:
        return Estate.model_validate(raw)
    except ValidationError as exc:
        raise EstateError(_problems(exc, source)) from None


def _problems(exc: ValidationError, source: str) -> list[EstateProblem]:
    problems: list[EstateProblem] = []
    for error in exc.errors(include_url=False):
        loc = _dotted(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith(_REFERENCE_MARK):
            for line in message.removeprefix(_REFERENCE_MARK).splitlines():
                match = _PATH_RE.match(line)
                path, msg = (match["path"], match["msg"]) if match else (loc or "<root>", line)
                problems.append(EstateProblem(source, path, msg))
            continue
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see plugins/multicloud/estate/models.py)"
        elif "input" in error and error["type"] not in {"value_error", "assertion_error"}:
            message = f"{message} (got {error['input']!r})"
        problems.append(EstateProblem(source, loc or "<root>", message))
    return problems


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
