"""A loopback emulator of the OCI REST APIs our code calls, for the real ``oci`` SDK.

Emulated because no OCI endpoint can be reached from CI and no OCI emulator exists in any
registry. The SDK's own signing, serialisation and error handling run for real: every request
must carry a valid ``rsa-sha256`` HTTP signature made with the test key, or the emulator answers
401 ``NotAuthenticated`` as OCI does. Services register routes on one server:

    emulator = OCIEmulator(public_key_pem)
    @emulator.route("POST", r"/20200430/workspaces/(?P<ws>[^/]+)/applications/(?P<app>[^/]+)/taskRuns")
    def create(request): return 200, {...}

Every request is recorded (``emulator.requests``) so tests can assert on what arrived.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

_SIG_RE = re.compile(r'(\w+)="([^"]*)"')


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
        key_id, signed = self._verify(http.command, http.path, headers)
        request = OCIRequest(http.command, split.path, parse_qs(split.query), headers, body, key_id, signed)
        with self.lock:
            self.requests.append(request)
        if self.require_signature and not signed:
            self._reply(http, 401, {"code": "NotAuthenticated", "message": "The required information to complete authentication was not provided or was incorrect."})
            return
        for method, pattern, handler in self.routes:
            match = pattern.match(split.path)
            if method == http.command and match:
                request.params = match.groupdict()
                try:
                    result = handler(request)
                except OCIError as err:
                    self._reply(http, err.status, {"code": err.code, "message": err.message})
                    return
                status, payload, *extra = result
                self._reply(http, status, payload, extra[0] if extra else None)
                return
        self._reply(http, 404, {"code": "NotAuthorizedOrNotFound", "message": f"no route for {http.command} {split.path}"})

    def _verify(self, method: str, target: str, headers: dict[str, str]) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Signature "):
            return None, False
        fields = dict(_SIG_RE.findall(auth))
        lines = []
        for name in fields.get("headers", "").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return fields.get("keyId"), False
        try:
            self._public_key.verify(
                base64.b64decode(fields.get("signature", "")), "\n".join(lines).encode(),
                padding.PKCS1v15(), hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return fields.get("keyId"), False
        return fields.get("keyId"), fields.get("algorithm") == "rsa-sha256"

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
