"""A loopback emulator of the OCI REST APIs our code calls, for the real ``oci`` SDK.

Emulated because no OCI endpoint can be reached from CI and no OCI emulator exists in any
registry. The SDK's own signing, serialisation and error handling run for real: every request
must carry a valid ``rsa-sha256`` HTTP signature made with the test key, or the emulator answers
401 ``NotAuthenticated`` as OCI does. As OCI's request-signing spec requires, the signature must
cover ``date`` (or ``x-date``), ``(request-target)`` and ``host`` on every request, plus
``content-length``, ``content-type`` and ``x-content-sha256`` on PUT/POST/PATCH; the emulator
recomputes ``x-content-sha256`` over the body it received and checks ``content-length``, and
refuses a ``date`` more than 5 minutes off (OCI's clock-skew limit). Services register routes on
one server:

    emulator = OCIEmulator(public_key_pem)
    @emulator.route("POST", r"/20200430/workspaces/(?P<ws>[^/]+)/applications/(?P<app>[^/]+)/taskRuns")
    def create(request): return 200, {...}

Every request is recorded (``emulator.requests``) so tests can assert on what arrived.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

_SIG_RE = re.compile(r'(\w+)="([^"]*)"')
GENERIC_SIGNED = ("(request-target)", "host")
BODY_SIGNED = ("content-length", "content-type", "x-content-sha256")
MAX_CLOCK_SKEW_S = 300


@dataclass
class OCIRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    key_id: str | None
    signed: bool
    params: dict[str, str] = field(default_factory=dict)
    auth_problem: str | None = None

    @property
    def retry_token(self) -> str | None:
        return self.headers.get("opc-retry-token")


Handler = Callable[[OCIRequest], tuple[int, Any] | tuple[int, Any, dict[str, str]]]


class OCIError(Exception):
    """Raise inside a handler to answer an OCI-style error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class OCIEmulator:
    def __init__(self, public_key_pem: bytes, *, require_signature: bool = True) -> None:
        self._public_key = serialization.load_pem_public_key(public_key_pem)
        self.require_signature = require_signature
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[OCIRequest] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> OCIEmulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as OCI's front ends: no ~40 ms delayed-ACK wait per keep-alive reply

            def log_message(self, *_args: Any) -> None:
                return

            def _serve(self) -> None:
                emulator._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="oci-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def requests_to(self, method: str, path_regex: str) -> list[OCIRequest]:
        pattern = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    # ---- request handling -------------------------------------------------------------------
    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("content-length") or 0)
        raw = http.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in http.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        key_id, problem = self._verify(http.command, http.path, headers, raw)
        signed = problem is None
        request = OCIRequest(http.command, split.path, parse_qs(split.query), headers, body, key_id, signed)
        request.auth_problem = problem
        with self.lock:
            self.requests.append(request)
        if self.require_signature and not signed:
            self._reply(http, 401, {"code": "NotAuthenticated", "message": "The required information to complete authentication was not provided or was incorrect."})
            return
        for method, pattern, handler in self.routes:
            match = pattern.match(split.path)
            if method == http.command and match:
                request.params = {k: unquote(v) for k, v in match.groupdict().items()}
                try:
                    result = handler(request)
                except OCIError as err:
                    self._reply(http, err.status, {"code": err.code, "message": err.message})
                    return
                status, payload, *extra = result
                self._reply(http, status, payload, extra[0] if extra else None)
                return
        self._reply(http, 404, {"code": "NotAuthorizedOrNotFound", "message": f"no route for {http.command} {split.path}"})

    def _verify(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[str | None, str | None]:
        """(keyId, None) when the request is signed as OCI requires, else (keyId, what is wrong)."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Signature "):
            return None, "no Signature authorization header"
        fields = dict(_SIG_RE.findall(auth))
        key_id = fields.get("keyId")
        if fields.get("algorithm") != "rsa-sha256" or fields.get("version", "1") != "1":
            return key_id, f"algorithm {fields.get('algorithm')!r} is not rsa-sha256"
        signed = fields.get("headers", "").split()
        required = [*GENERIC_SIGNED, *(BODY_SIGNED if method in ("PUT", "POST", "PATCH") else ())]
        missing = [h for h in required if h not in signed]
        if "date" not in signed and "x-date" not in signed:
            missing.insert(0, "date")
        if missing:
            return key_id, f"signature does not cover required header(s) {', '.join(missing)}"
        problem = self._check_headers(headers, raw, signed)
        if problem:
            return key_id, problem
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return key_id, f"signed header {name} is not in the request"
        try:
            self._public_key.verify(base64.b64decode(fields.get("signature", "")), "\n".join(lines).encode(),
                                    padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return key_id, "signature does not verify with the registered key"
        return key_id, None

    @staticmethod
    def _check_headers(headers: dict[str, str], raw: bytes, signed: list[str]) -> str | None:
        stamp = headers.get("x-date") or headers.get("date")
        try:
            skew = abs(time.time() - parsedate_to_datetime(stamp).timestamp()) if stamp else None
        except (TypeError, ValueError):
            skew = None
        if skew is None:
            return "date header missing or unparseable"
        if skew > MAX_CLOCK_SKEW_S:
            return f"date is {skew:.0f}s off the server's clock (limit {MAX_CLOCK_SKEW_S}s)"
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
            if headers.get("x-content-sha256") != digest:
                return "x-content-sha256 does not match the body"
        if "content-length" in signed and int(headers.get("content-length") or -1) != len(raw):
            return "content-length does not match the body"
        return None

    @staticmethod
    def _reply(http: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            content_type = "application/octet-stream"
        else:
            data = json.dumps(payload).encode() if payload is not None else b""
            content_type = "application/json"
        http.send_response(status)
        http.send_header("content-type", content_type)
        http.send_header("content-length", str(len(data)))
        http.send_header("opc-request-id", f"emulated-{len(data)}")
        http.send_header("date", formatdate(usegmt=True))
        for key, value in (headers or {}).items():
            http.send_header(key, value)
        http.end_headers()
        http.wfile.write(data)
