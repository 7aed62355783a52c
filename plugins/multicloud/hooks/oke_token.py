"""OKE cluster tokens generated in-process, the way ``oci ce cluster generate-token`` makes them.

An OKE kubeconfig of token version 2.0.0 (the only supported value) authenticates by running
``oci ce cluster generate-token`` as an exec credential plugin. The CLI is not installed next to
Airflow, and it would not get the OCIHook's credentials (instance or resource principal, a key
from a connection). The algorithm is small, so we run it with the hook's own signer:

1. sign ``GET https://containerengine.{region}.oraclecloud.com/cluster_request/{cluster_id}``
   with the OCI request signer (rsa-sha256 over ``date``, ``(request-target)`` and ``host``);
2. put the signed request's ``authorization`` and ``date`` headers (and ``opc-obo-token`` for a
   delegation-token signer) into the query string of the same URL;
3. the token is that URL, base64url-encoded (with its padding, as the CLI prints it).

OKE accepts a token for about five minutes; like the CLI (``expirationTimestamp`` = now + 4 min)
we renew it before that. ``OKETokenSource`` caches one token and mints the next on demand.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

TOKEN_LIFETIME_S = 240.0  # what the CLI announces (now + 4 minutes); OKE itself accepts ~5 minutes


def cluster_request_url(region: str, cluster_id: str) -> str:
    return f"https://containerengine.{region}.oraclecloud.com/cluster_request/{cluster_id}"


def generate_token(signer: Any, region: str, cluster_id: str) -> str:
    """The OKE bearer token for ``cluster_id``, signed by ``signer`` (any OCI SDK signer)."""
    from oci._vendor.requests import Request
    from oci.auth.signers import InstancePrincipalsDelegationTokenSigner

    if not cluster_id.strip():
        raise ValueError("an OKE token needs the cluster OCID")
    url = cluster_request_url(region, cluster_id)
    signed = signer.do_request_sign(Request("GET", url).prepare())
    params = {"authorization": signed.headers["authorization"], "date": signed.headers["date"]}
    if isinstance(signer, InstancePrincipalsDelegationTokenSigner):
        params["opc-obo-token"] = signer.delegation_token
    presigned = Request("GET", url, params=params).prepare().url
    return base64.urlsafe_b64encode(presigned.encode()).decode()


class OKETokenSource:
    """One cluster's token, renewed ``renew_margin_s`` before its announced expiry.

    :param signer: the OCI request signer of the identity (the second item of ``OCIHook.credentials``).
    :param region: the cluster's OCI region id.
    :param cluster_id: the OKE cluster's OCID.
    :param lifetime_s: how long a minted token is valid (OKE announces 4 minutes).
    :param renew_margin_s: mint a new token this many seconds before the old one expires.
    :param clock: wall-clock seconds (``time.time``); tests pass their own.
    """

    def __init__(self, signer: Any, region: str, cluster_id: str, lifetime_s: float = TOKEN_LIFETIME_S,
                 renew_margin_s: float = 30.0, clock: Any = time.time) -> None:
        if renew_margin_s >= lifetime_s:
            raise ValueError("renew_margin_s must be shorter than the token lifetime")
        self.signer, self.region, self.cluster_id = signer, region, cluster_id
        self.lifetime_s, self.renew_margin_s, self.clock = lifetime_s, renew_margin_s, clock
        self._token: str | None = None
        self._minted_at = 0.0
        self._lock = threading.Lock()
        self.minted = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._minted_at + self.lifetime_s - self.renew_margin_s:
                self._token = generate_token(self.signer, self.region, self.cluster_id)
                self._minted_at = self.clock()
                self.minted += 1
            return self._token

    @classmethod
    def from_hook(cls, oci_conn_id: str, cluster_id: str, region: str | None = None) -> OKETokenSource:
        """Tokens signed with an OCIHook connection's signer (API key, config file, instance or resource principal)."""
        from multicloud.hooks.oci import OCIHook

        hook = OCIHook(oci_conn_id, region=region)
        _config, signer = hook.credentials
        return cls(signer, hook.region, cluster_id)
