"""The real OCI SDK, through OCIHook, reaches the loopback emulator with signed requests."""

from __future__ import annotations

import oci

from multicloud.hooks.oci import OCIHook


def test_signed_request_reaches_emulator(oci_conn, oci_emulator, oci_api_key):
    @oci_emulator.route("GET", r"/20160918/tenancies/(?P<tenancy>[^/]+)")
    def get_tenancy(request):
        return 200, {"id": request.params["tenancy"], "name": "test", "homeRegionKey": "FRA"}

    hook = OCIHook(oci_conn)
    tenancy = hook.get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"]).data
    assert tenancy.name == "test"
    (request,) = oci_emulator.requests_to("GET", "/tenancies/")
    assert request.signed
    assert request.key_id == f"{oci_api_key['tenancy']}/{oci_api_key['user']}/{oci_api_key['fingerprint']}"
