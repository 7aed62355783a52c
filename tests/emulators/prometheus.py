"""A small Prometheus for tests: scrapes targets' /metrics and answers PromQL instant queries.

Written from the Prometheus HTTP API reference (``GET|POST /api/v1/query`` with ``query`` and an
optional ``time``; answers ``{"status": "success", "data": {"resultType": "vector", "result":
[{"metric": {...}, "value": [<unix time>, "<value>"]}]}}``, or ``{"status": "error", "errorType":
"bad_data", "error": ...}`` with HTTP 400) and the text exposition format (``name{labels} value``
lines, ``#`` comments). Every ``scrape_interval_s`` it scrapes each target the ``targets()``
callable returns (``[(url, {"pod": ..., "namespace": ...})]``, e.g. a Kubernetes emulator's Ready
pods, like ``kubernetes_sd_configs`` with role pod), adding the target's labels and ``instance``.

PromQL modelled: vector selectors with ``=``, ``!=``, ``=~``, ``!~`` matchers; range selectors
``[<n>s|m|h]`` inside ``rate``/``increase``; ``sum`` with optional ``by (labels)`` (before or after
the argument); ``histogram_quantile(φ, v)`` (linear interpolation within buckets, as Prometheus);
binary ``+ - * /`` between two vectors (one-to-one on identical label sets) or a vector and a
number; ``or``; ``vector(<number>)``; number literals and parentheses.

NOT modelled: extrapolation in ``rate``/``increase`` (the increase between the window's first and
last samples, counter resets handled, divided by their time distance); staleness markers and the
5-minute lookback (an instant selector takes the newest sample in the last 5 minutes, but a
vanished target's series is not marked stale); ``query_range``, series/labels/metadata endpoints;
every other function, operator, ``offset``/``@``, ``on``/``ignoring``/``group_left``; recording
rules, alerting, remote storage, authentication.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.http_json import reply_json

Labels = tuple[tuple[str, str], ...]
Targets = Callable[[], list[tuple[str, dict[str, str]]]]
_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')
_TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<dur>\[\d+(?:\.\d+)?[smh]\])|(?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'|(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>=~|!~|!=|[-+*/(){},=]))')
LOOKBACK_S = 300.0


class PromQLError(ValueError):
    pass


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        labels = {k: v.replace('\\"', '"') for k, v in _LABEL.findall(match["labels"] or "")}
        samples.append((match["name"], labels, float(match["value"])))
    return samples


class PrometheusEmulator:
    def __init__(self, targets: Targets, scrape_interval_s: float = 0.2) -> None:
        self.targets, self.scrape_interval_s = targets, scrape_interval_s
        self.series: dict[Labels, list[tuple[float, float]]] = {}
        self.queries: list[str] = []
        self.scrape_errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> PrometheusEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def do_GET(self) -> None:
                emulator._answer(self, urlsplit(self.path).query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                emulator._answer(self, self.rfile.read(length).decode() if length else "")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._scraper, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- scraping -------------------------------------------------------------------------------
    def _scraper(self) -> None:
        while not self._stop.wait(self.scrape_interval_s):
            try:
                targets = self.targets()
            except Exception as exc:  # a discovery error must show, not stop scraping
                self.scrape_errors.append(f"discovery: {type(exc).__name__}: {exc}")
                continue
            for url, target_labels in targets:
                self.scrape(url, target_labels)

    def scrape(self, url: str, target_labels: dict[str, str]) -> None:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=1) as reply:
                text = reply.read().decode()
        except OSError as exc:
            self.scrape_errors.append(f"{url}: {exc}")
            return
        now = time.time()
        instance = urlsplit(url).netloc
        with self._lock:
            for name, labels, value in parse_exposition(text):
                key = tuple(sorted({**labels, **target_labels, "instance": instance, "__name__": name}.items()))
                self.series.setdefault(key, []).append((now, value))

    # ---- the HTTP API ---------------------------------------------------------------------------
    def _answer(self, http: BaseHTTPRequestHandler, form: str) -> None:
        path = urlsplit(http.path).path
        params = {k: v[-1] for k, v in parse_qs(form).items()}
        if path != "/api/v1/query":
            return self._reply(http, 404, {"status": "error", "errorType": "not_found", "error": f"no route {path}"})
        query = params.get("query", "")
        self.queries.append(query)
        try:
            at = float(params["time"]) if params.get("time") else time.time()
            result = self.evaluate(query, at)
        except PromQLError as exc:
            return self._reply(http, 400, {"status": "error", "errorType": "bad_data", "error": str(exc)})
        if isinstance(result, float):
            data = {"resultType": "scalar", "result": [at, _fmt(result)]}
        else:
            data = {"resultType": "vector", "result": [
                {"metric": dict(labels), "value": [at, _fmt(value)]} for labels, value in sorted(result.items())]}
        self._reply(http, 200, {"status": "success", "data": data})

    _reply = staticmethod(reply_json)

    # ---- PromQL ---------------------------------------------------------------------------------
    def evaluate(self, query: str, at: float) -> dict[Labels, float] | float:
        tokens = [m for m in _TOKEN.finditer(query)]
        if "".join(m.group(0) for m in tokens).strip() != query.strip() or not tokens:
            raise PromQLError(f"cannot parse query {query!r}")
        parser = _Parser([(m.lastgroup or "", m.group(m.lastgroup or 0)) for m in tokens], self, at)
        value = parser.expression()
        if parser.peek() is not None:
            raise PromQLError(f"unexpected {parser.peek()[1]!r} in {query!r}")
        return value

    def select(self, name: str, matchers: list[tuple[str, str, str]], at: float,
               window_s: float | None) -> dict[Labels, list[tuple[float, float]]]:
        out = {}
        start = at - (window_s if window_s is not None else LOOKBACK_S)
        with self._lock:
            for key, points in self.series.items():
                labels = dict(key)
                if labels.get("__name__") != name or not all(_match(labels.get(k, ""), op, v) for k, op, v in matchers):
                    continue
                inside = [p for p in points if start < p[0] <= at]
                if inside:
                    out[key] = inside if window_s is not None else [inside[-1]]
        return out


def _fmt(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else repr(float(value)))


def _match(value: str, op: str, want: str) -> bool:
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    matched = re.fullmatch(want, value) is not None
    return matched if op == "=~" else not matched


def _increase(points: list[tuple[float, float]]) -> float:
    total, previous = 0.0, points[0][1]
    for _t, value in points[1:]:
        total += value - previous if value >= previous else value  # a counter reset starts again at 0
        previous = value
    return total


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over (upper bound, cumulative count) pairs."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != math.inf or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == math.inf:
                return lower_bound
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / max(count - lower_count, 1e-12))
        lower_bound, lower_count = bound, count
    return math.nan


def _without_name(key: Labels) -> Labels:
    return tuple((k, v) for k, v in key if k != "__name__")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], db: PrometheusEmulator, at: float) -> None:
        self.tokens, self.db, self.at, self.i = tokens, db, at, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (want is not None and token[1] != want):
            raise PromQLError(f"expected {want or 'more'}, got {token[1] if token else 'the end'}")
        self.i += 1
        return token

    def expression(self) -> Any:
        """``a or b``: a's series, then b's whose labels a lacks (lowest precedence)."""
        left = self.arithmetic()
        while self.peek() and self.peek()[1] == "or":
            self.take("or")
            right = self.arithmetic()
            if isinstance(left, float) or isinstance(right, float):
                raise PromQLError("'or' needs instant vectors on both sides")
            left = {**{k: v for k, v in right.items() if k not in left}, **left}
        return left

    def arithmetic(self) -> Any:
        left = self.term()
        while self.peek() and self.peek()[1] in "+-":
            op = self.take()[1]
            left = _binary(left, op, self.term())
        return left

    def term(self) -> Any:
        left = self.atom()
        while self.peek() and self.peek()[1] in "*/":
            op = self.take()[1]
            left = _binary(left, op, self.atom())
        return left

    def atom(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.expression()
            self.take(")")
            return value
        if kind != "id":
            raise PromQLError(f"unexpected {text!r}")
        if text == "sum":
            return self.aggregation()
        if text == "vector":
            self.take("(")
            scalar = self.expression()
            self.take(")")
            if not isinstance(scalar, float):
                raise PromQLError("vector() needs a number")
            return {(): scalar}
        if text in ("rate", "increase"):
            self.take("(")
            selected = self.selector(self.take()[1], ranged=True)
            self.take(")")
            out = {}
            for key, points in selected.items():
                if len(points) < 2:
                    continue  # fewer than two samples in the window: no result, as Prometheus
                grown = _increase(points)
                out[_without_name(key)] = grown / (points[-1][0] - points[0][0]) if text == "rate" else grown
            return out
        if text == "histogram_quantile":
            self.take("(")
            q = self.expression()
            self.take(",")
            vector = self.expression()
            self.take(")")
            groups: dict[Labels, list[tuple[float, float]]] = {}
            for key, value in vector.items():
                labels = dict(key)
                if "le" not in labels:
                    continue
                bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
                groups.setdefault(tuple((k, v) for k, v in key if k != "le"), []).append((bound, value))
            return {key: _quantile(float(q), buckets) for key, buckets in groups.items()}
        return {k: points[-1][1] for k, points in self.selector(text, ranged=False).items()}

    def aggregation(self) -> dict[Labels, float]:
        by: list[str] | None = None
        if self.peek() and self.peek()[1] == "by":
            by = self.label_list()
        self.take("(")
        inner = self.expression()
        self.take(")")
        if self.peek() and self.peek()[1] == "by":
            by = self.label_list()
        if isinstance(inner, float):
            raise PromQLError("sum() needs an instant vector")
        out: dict[Labels, float] = {}
        for key, value in inner.items():
            labels = dict(key)
            group = tuple(sorted((k, labels[k]) for k in (by or []) if k in labels))
            out[group] = out.get(group, 0.0) + value
        return out

    def label_list(self) -> list[str]:
        self.take("by")
        self.take("(")
        names = []
        while self.peek() and self.peek()[1] != ")":
            names.append(self.take()[1])
            if self.peek() and self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return names

    def selector(self, name: str, ranged: bool) -> dict[Labels, list[tuple[float, float]]]:
        matchers = []
        if self.peek() and self.peek()[1] == "{":
            self.take("{")
            while self.peek() and self.peek()[1] != "}":
                label = self.take()[1]
                op = self.take()[1]
                if op not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"unknown matcher {op!r}")
                kind, raw = self.take()
                if kind != "str":
                    raise PromQLError(f"matcher value must be a string, got {raw!r}")
                matchers.append((label, op, json.loads(raw)))
                if self.peek() and self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
        window = None
        if self.peek() and self.peek()[0] == "dur":
            text = self.take()[1][1:-1]
            window = float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]
        if ranged != (window is not None):
            raise PromQLError("rate()/increase() need a range selector; an instant query needs none")
        return self.db.select(name, matchers, self.at, window)


def _binary(left: Any, op: str, right: Any) -> Any:
    def apply(a: float, b: float) -> float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a))

    if isinstance(left, float) and isinstance(right, float):
        return apply(left, right)
    if isinstance(left, float):
        return {_without_name(k): apply(left, v) for k, v in right.items()}
    if isinstance(right, float):
        return {_without_name(k): apply(v, right) for k, v in left.items()}
    others = {_without_name(k): v for k, v in right.items()}  # one-to-one on the labels but the name
    return {_without_name(k): apply(v, others[_without_name(k)]) for k, v in left.items()
            if _without_name(k) in others}


def kubernetes_pod_targets(emulator: Any, port: int = 8080) -> Targets:
    """Every Ready pod of a Kubernetes emulator that declares ``port``: what role-pod discovery finds."""
    def targets() -> list[tuple[str, dict[str, str]]]:
        with emulator._lock:
            found = []
            for (namespace, name), runtime in emulator.pods.items():
                if runtime.ready and port in runtime.ports:
                    found.append((f"http://{runtime.ip}:{runtime.ports[port]}", {"namespace": namespace, "pod": name}))
            return found
    return targets
