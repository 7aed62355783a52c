"""OKE tokens: ours (in-process, the OCIHook's signer) equal the real ``oci`` CLI's, byte for byte.

The real CLI is ``oci-cli`` from PyPI in its own venv (``make oci-cli``: its pins conflict with the
main lock; built once and cached under .cache/). Both sides sign with the same API key for the same
cluster and region at the same clock: the request date is fixed in both processes (RSA PKCS#1 v1.5
signatures are deterministic, so equal inputs give equal tokens).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from multicloud.hooks.oke_token import OKETokenSource, generate_token

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = "ocid1.cluster.oc1.eu-frankfurt-1.aaaaaaaatest"
REGION = "eu-frankfurt-1"
FIXED_DATE = "Tue, 01 Dec 2026 10:00:00 GMT"
# Loaded by the CLI's interpreter (PYTHONPATH): the same fixed clock for the signature's date header.
SITECUSTOMIZE = """
import email.utils, os
if os.environ.get("OKE_TEST_FIXED_DATE"):
    email.utils.formatdate = lambda *args, **kwargs: os.environ["OKE_TEST_FIXED_DATE"]
"""


@pytest.fixture(scope="session")
def oci_cli() -> Path:
    build = subprocess.run(["make", "-s", "oci-cli"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                           check=False)
    assert build.returncode == 0, f"could not build the oci CLI venv (make oci-cli): {build.stderr[-2000:]}"
    [cli] = (ROOT / ".cache").glob("oci-cli-*/bin/oci")
    return cli


def cli_token(cli: Path, key: dict[str, str], tmp_path: Path) -> str:
    config = tmp_path / "config"
    config.write_text(f"[DEFAULT]\nuser={key['user']}\nfingerprint={key['fingerprint']}\n"
                      f"tenancy={key['tenancy']}\nregion={REGION}\nkey_file={key['key_file']}\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path / "site"),
           "OKE_TEST_FIXED_DATE": FIXED_DATE, "OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING": "True"}
    result = subprocess.run([str(cli), "--config-file", str(config), "ce", "cluster", "generate-token",
                             "--cluster-id", CLUSTER, "--region", REGION], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    credential = json.loads(result.stdout)
    assert credential["kind"] == "ExecCredential"
    return credential["status"]["token"]


@pytest.mark.timeout(300)
def test_our_oke_token_equals_the_oci_cli_token(oci_cli, oci_api_key, oci_conn, monkeypatch, tmp_path):
    theirs = cli_token(oci_cli, oci_api_key, tmp_path)
    import email.utils

    monkeypatch.setattr(email.utils, "formatdate", lambda *args, **kwargs: FIXED_DATE)
    ours = OKETokenSource.from_hook(oci_conn, CLUSTER, REGION).token()  # the OCIHook's api_key signer
    assert ours == theirs
    url = base64.urlsafe_b64decode(ours).decode()
    split = urlsplit(url)
    assert (split.netloc, split.path) == (f"containerengine.{REGION}.oraclecloud.com", f"/cluster_request/{CLUSTER}")
    query = parse_qs(split.query)
    assert query["date"] == [FIXED_DATE]
    assert 'headers="date (request-target) host"' in query["authorization"][0]


def test_token_source_renews_before_expiry():
    calls = []

    class Signer:
        def do_request_sign(self, request):
            calls.append(request.url)
            request.headers.update(authorization=f'Signature version="1",signature="{len(calls)}"', date="d")
            return request

    now = [0.0]
    source = OKETokenSource(Signer(), REGION, CLUSTER, lifetime_s=240, renew_margin_s=30, clock=lambda: now[0])
    first = source.token()
    now[0] = 209.0
    assert source.token() == first
    now[0] = 210.0
    assert source.token() != first
    assert source.minted == 2
    with pytest.raises(ValueError, match="cluster OCID"):
        generate_token(Signer(), REGION, " ")
