"""Load and validate an estate file; every problem names the file, the field path and the fix.

The estate is parsed once per process (cached on path, modification time and estate home), so
a DAG file and every task of a run see one consistent estate.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import lru_cache

import yaml
from pydantic import ValidationError

from multicloud import paths
from multicloud.estate.models import Estate, ReferenceProblems


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


# Bounds on the input: the DAG files read the estate at parse time, so a hostile or broken file
# must fail fast with one line, never stall or flood the log.
MAX_ESTATE_BYTES = paths.MAX_ESTATE_BYTES
MAX_YAML_NODES = 50_000  # nodes after alias expansion (an alias counts each time it is used)
MAX_YAML_DEPTH = 64  # nesting of sequences and mappings
MAX_PATH_SHOWN = 120
MAX_PROBLEMS = 50
MAX_INPUT_SHOWN = 80


def load_estate(
    file: str | os.PathLike[str] | None = None, home: str | os.PathLike[str] | None = None
) -> Estate:
    path = paths.estate_file(file)
    estate_home = paths.estate_home(home)
    try:
        info = path.stat()
    except OSError as exc:
        raise _one(str(path), "<file>", f"cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _one(str(path), "<file>", "is a directory; expected an estate YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise _one(str(path), "<file>", "is not a regular file (a pipe or device could block the reader)")
    if info.st_size > MAX_ESTATE_BYTES:
        raise _one(str(path), "<file>", f"is {info.st_size} bytes; an estate may be at most {MAX_ESTATE_BYTES}")
    return _load_cached(str(path), info.st_mtime_ns, str(estate_home))


@lru_cache(maxsize=16)
def _load_cached(path: str, _mtime: int, home: str) -> Estate:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ESTATE_BYTES + 1)
    except OSError as exc:
        raise _one(path, "<file>", f"cannot read: {exc.strerror}") from None
    return parse_estate(data, source=path, home=home)


def parse_estate(text: str | bytes, source: str = "<string>", home: str | None = None) -> Estate:
    home = home or str(paths.estate_home())
    text = _decode(text, source)
    if len(text) > MAX_ESTATE_BYTES:
        raise _one(source, "<file>", f"is longer than {MAX_ESTATE_BYTES} characters")
    raw = _read_yaml(text.replace("{estate_home}", home), source)
    if not isinstance(raw, dict):
        raise _one(source, "<root>", "expected a mapping of estate sections")
    try:
        return Estate.model_validate(raw)
    except ValidationError as exc:
        raise EstateError(_problems(exc, source)) from None


def _one(source: str, where: str, message: str) -> EstateError:
    return EstateError([EstateProblem(source, where, _line(message))])


def _line(message: str) -> str:
    return " ".join(str(message).split())


def _short(where: str) -> str:
    return where if len(where) <= MAX_PATH_SHOWN else f"{where[:MAX_PATH_SHOWN]}..."


def _decode(text: str | bytes, source: str) -> str:
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        raise _one(source, f"line {line}", f"not UTF-8 text: byte 0x{text[exc.start]:02x} at offset {exc.start} "
                   "(save the estate as UTF-8)") from None


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _DepthGuard(yaml.composer.Composer):
    """A composer that refuses deep nesting before the parser reads further (PyYAML's scanner is
    quadratic in flow nesting, and its composer recursive)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:  # PyYAML built with libyaml
    from yaml.cyaml import CParser

    class _EstateLoader(_DepthGuard, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """SafeLoader semantics; the events come from libyaml's scanner and parser (in C: every DAG
        file parse reads the estate), the composing stays in Python so every bound below holds."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:

    class _EstateLoader(_DepthGuard, yaml.SafeLoader):  # type: ignore[no-redef]
        """SafeLoader with the depth guard (pure-Python PyYAML)."""


def _read_yaml(text: str, source: str) -> object:
    loader = None
    try:
        loader = _EstateLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise _one(source, f"character {exc.position}", f"not valid YAML: unacceptable character "
                   f"#x{ord(exc.character) if isinstance(exc.character, str) else exc.character:04x} ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        problem = getattr(exc, "problem", None)
        detail = f"{problem} ({exc.context})" if problem and getattr(exc, "context", None) else (problem or exc)
        raise _one(source, where, f"not valid YAML: {detail}") from None
    except _TooDeep as exc:
        raise _one(source, f"line {exc.mark.line + 1}, column {exc.mark.column + 1}",
                   f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    except RecursionError:
        raise _one(source, "<yaml>", "nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Refuse duplicate keys at any level and alias expansion beyond ``MAX_YAML_NODES``."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    visited = 0
    while stack:
        node, where = stack.pop()
        visited += 1
        if visited > MAX_YAML_NODES:
            raise _one(source, _short(where) or "<root>", f"more than {MAX_YAML_NODES} YAML nodes after alias "
                       "expansion (an alias/anchor bomb?)")
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, f"{where}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    stack.append((value, where))
                    continue
                name = key.value if isinstance(key, yaml.ScalarNode) else "<complex key>"
                field = f"{where}.{name}" if where else str(name)
                identity = (key.tag, str(name))
                if identity in seen:
                    raise _one(source, field, f"duplicate key {name!r} (line {key.start_mark.line + 1}; first at "
                               f"line {seen[identity]}); a repeated key would silently override the first")
                seen[identity] = key.start_mark.line + 1
                stack.append((value, field))


def _problems(exc: ValidationError, source: str) -> list[EstateProblem]:
    problems: list[EstateProblem] = []
    for error in exc.errors(include_url=False):
        loc = _dotted(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ReferenceProblems):
            problems += [EstateProblem(source, p.path, _line(p.message)) for p in cause.problems]
            continue
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see plugins/multicloud/estate/models.py)"
        elif "input" in error and error["type"] not in {"value_error", "assertion_error"}:
            message = f"{message} (got {_shown(error['input'])})"
        problems.append(EstateProblem(source, loc or "<root>", _line(message)))
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], EstateProblem(source, "<more>", f"and {more} more problem(s)")]
    return problems


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_INPUT_SHOWN else f"{text[:MAX_INPUT_SHOWN]}... ({len(text)} characters)"


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
