"""The OCI emulator enforces OCI's request-signing rules, so a client that gets them wrong fails
here as it would against OCI: required signed headers per method, x-content-sha256 recomputed
over the body, content-length, and the 5-minute clock-skew limit. Requests are signed with the
SDK's own signer (``oci.signer.Signer`` as a ``requests`` auth), then altered."""

from __future__ import annotations

import json
from email.utils import formatdate

import oci
import pytest
import requests


@pytest.fixture
def signer(oci_api_key):
    return oci.signer.Signer(tenancy=oci_api_key["tenancy"], user=oci_api_key["user"],
                             fingerprint=oci_api_key["fingerprint"], private_key_file_location=None,
                             private_key_content=oci_api_key["private_pem"])


@pytest.fixture
def echo(oci_emulator):
    oci_emulator.route("POST", "/20200101/things")(lambda request: (200, {"ok": True}))
    oci_emulator.route("GET", "/20200101/things")(lambda request: (200, {"ok": True}))
    return oci_emulator


def _problem(emulator) -> str | None:
    return emulator.requests[-1].auth_problem


def test_a_correctly_signed_get_and_post_are_accepted(echo, signer):
    assert requests.get(f"{echo.url}/20200101/things", auth=signer, timeout=5).status_code == 200
    reply = requests.post(f"{echo.url}/20200101/things", json={"a": 1}, auth=signer, timeout=5)
    assert reply.status_code == 200
    assert _problem(echo) is None


def test_a_body_changed_after_signing_is_refused(echo, signer):
    prepared = requests.Request("POST", f"{echo.url}/20200101/things", json={"a": 1}).prepare()
    signer(prepared)
    prepared.body = json.dumps({"a": 2}).encode()  # same length, different content
    reply = requests.Session().send(prepared, timeout=5)
    assert reply.status_code == 401
    assert reply.json()["code"] == "NotAuthenticated"
    assert _problem(echo) == "x-content-sha256 does not match the body"


def test_a_post_whose_signature_skips_the_body_headers_is_refused(echo, signer):
    prepared = requests.Request("POST", f"{echo.url}/20200101/things", json={"a": 1}).prepare()
    signer.without_content_headers(prepared)  # the SDK's mode for streamed uploads: generic headers only
    assert "x-content-sha256" not in prepared.headers["authorization"]
    reply = requests.Session().send(prepared, timeout=5)
    assert reply.status_code == 401
    assert _problem(echo) == ("signature does not cover required header(s) content-length, content-type, "
                              "x-content-sha256")


def test_a_stale_date_is_refused(echo, signer):
    prepared = requests.Request("GET", f"{echo.url}/20200101/things").prepare()
    prepared.headers["date"] = formatdate(timeval=1_000_000_000, usegmt=True)  # 2001
    signer(prepared)
    reply = requests.Session().send(prepared, timeout=5)
    assert reply.status_code == 401
    assert "off the server's clock" in _problem(echo)
