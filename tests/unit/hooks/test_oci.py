"""OCIHook with the real ``oci`` SDK against the loopback emulator (tests/emulators/oci.py).

Emulated: the OCI endpoints (no OCI account or network in CI). Real: the SDK's config
validation, request signing (rsa-sha256 over the request target and headers), serialisation
and error handling. The emulator answers 401 to anything not signed with the test key.
Instance and resource principals need an OCI metadata service or an OCI function's
environment; neither exists here, so their signer factories are replaced by recorders and the
test checks that the hook picks exactly that signer and never the API-key one.
"""

from __future__ import annotations

import json

import oci
import pytest

from multicloud.hooks.oci import CLIENT_KEYS, OCIConnectionError, OCIHook

TENANCY_ROUTE = r"/20160918/tenancies/(?P<tenancy>[^/]+)"


def _set_conn(monkeypatch, conn_id: str, extra: dict, login: str | None = None, password: str | None = None) -> str:
    conn = {"conn_type": "oci", "extra": extra}
    if login:
        conn["login"] = login
    if password:
        conn["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def _api_key_extra(oci_api_key: dict, emulator_url: str | None = None, **overrides) -> dict:
    extra = {"auth_type": "api_key", "region": "eu-frankfurt-1", "tenancy": oci_api_key["tenancy"],
             "fingerprint": oci_api_key["fingerprint"]}
    if emulator_url:
        extra["service_endpoints"] = {key: emulator_url for key in CLIENT_KEYS.values()}
    extra.update(overrides)
    return {k: v for k, v in extra.items() if v is not None}


@pytest.fixture
def tenancy_route(oci_emulator):
    @oci_emulator.route("GET", TENANCY_ROUTE)
    def get_tenancy(request):
        return 200, {"id": request.params["tenancy"], "name": "emulated", "homeRegionKey": "FRA"}

    return oci_emulator


def _expected_key_id(oci_api_key: dict) -> str:
    return f"{oci_api_key['tenancy']}/{oci_api_key['user']}/{oci_api_key['fingerprint']}"


def test_api_key_with_key_content_signs_requests(monkeypatch, oci_api_key, tenancy_route):
    conn_id = _set_conn(monkeypatch, "oci_content",
                        _api_key_extra(oci_api_key, tenancy_route.url, key_content=oci_api_key["private_pem"]),
                        login=oci_api_key["user"])
    hook = OCIHook(conn_id)
    tenancy = hook.get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"]).data
    assert tenancy.name == "emulated"
    (request,) = tenancy_route.requests_to("GET", "/tenancies/")
    assert request.signed
    assert request.key_id == _expected_key_id(oci_api_key)
    assert hook.test_connection() == (True, "Connection to OCI region eu-frankfurt-1 works")


def test_api_key_with_key_file_signs_requests(monkeypatch, oci_api_key, tenancy_route):
    conn_id = _set_conn(monkeypatch, "oci_file", _api_key_extra(oci_api_key, tenancy_route.url,
                                                                key_file=oci_api_key["key_file"]),
                        login=oci_api_key["user"])
    hook = OCIHook(conn_id)
    config, _ = hook.credentials
    assert config["key_file"] == oci_api_key["key_file"]
    assert "key_content" not in config
    hook.get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"])
    (request,) = tenancy_route.requests_to("GET", "/tenancies/")
    assert request.signed
    assert request.key_id == _expected_key_id(oci_api_key)


def _new_private_pem(passphrase: str | None = None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption
    ).decode()


def test_wrong_key_is_rejected_by_the_emulator(monkeypatch, oci_api_key, tenancy_route):
    """The signature check is real: a request signed with another key gets OCI's 401."""
    other = _new_private_pem()
    conn_id = _set_conn(monkeypatch, "oci_wrong", _api_key_extra(oci_api_key, tenancy_route.url, key_content=other),
                        login=oci_api_key["user"])
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        OCIHook(conn_id).get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"])
    assert caught.value.status == 401
    assert caught.value.code == "NotAuthenticated"
    ok, message = OCIHook(conn_id).test_connection()
    assert not ok
    assert "NotAuthenticated" in message


def test_config_file_auth_uses_the_profile_and_the_connection_region(monkeypatch, tmp_path, oci_api_key,
                                                                     tenancy_route):
    config_file = tmp_path / "config"
    config_file.write_text(
        "[DEFAULT]\nregion=us-ashburn-1\nuser=ocid1.user.oc1..someone-else\ntenancy=ocid1.tenancy.oc1..other\n"
        "fingerprint=00:00\nkey_file=/nonexistent\n\n"
        f"[TEAM]\nuser={oci_api_key['user']}\ntenancy={oci_api_key['tenancy']}\n"
        f"fingerprint={oci_api_key['fingerprint']}\nkey_file={oci_api_key['key_file']}\nregion=us-ashburn-1\n"
    )
    conn_id = _set_conn(monkeypatch, "oci_cfg", {
        "auth_type": "config_file", "config_file": str(config_file), "profile": "TEAM", "region": "uk-london-1",
        "service_endpoints": {"identity": tenancy_route.url},
    })
    hook = OCIHook(conn_id)
    config, _ = hook.credentials
    assert config["region"] == "uk-london-1"  # the connection's region wins over the file's
    assert config["user"] == oci_api_key["user"]
    hook.get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"])
    (request,) = tenancy_route.requests_to("GET", "/tenancies/")
    assert request.signed
    assert request.key_id == _expected_key_id(oci_api_key)


@pytest.mark.parametrize(
    ("client_cls", "host_part"),
    [
        (oci.identity.IdentityClient, "identity.eu-frankfurt-1"),
        (oci.data_integration.DataIntegrationClient, "eu-frankfurt-1"),
        (oci.container_engine.ContainerEngineClient, "containerengine.eu-frankfurt-1"),
        (oci.monitoring.MonitoringClient, "eu-frankfurt-1"),
        (oci.object_storage.ObjectStorageClient, "objectstorage.eu-frankfurt-1"),
        (oci.resource_manager.ResourceManagerClient, "eu-frankfurt-1"),
    ],
)
def test_region_is_set_on_every_client(monkeypatch, oci_api_key, client_cls, host_part):
    conn_id = _set_conn(monkeypatch, "oci_region", _api_key_extra(oci_api_key, key_content=oci_api_key["private_pem"]),
                        login=oci_api_key["user"])
    client = OCIHook(conn_id).get_client(client_cls)
    assert host_part in client.base_client.endpoint
    assert client.base_client.endpoint.startswith("https://")  # TLS by default
    # The hook-level override (e.g. an operator's region parameter) reaches the client too.
    other = OCIHook(conn_id, region="ap-tokyo-1").get_client(client_cls)
    assert "ap-tokyo-1" in other.base_client.endpoint


def test_service_endpoint_override_per_client_and_per_call(monkeypatch, oci_api_key, oci_emulator):
    conn_id = _set_conn(monkeypatch, "oci_endpoints", _api_key_extra(
        oci_api_key, key_content=oci_api_key["private_pem"],
        service_endpoints={"monitoring": "https://telemetry-ingestion.eu-frankfurt-1.oraclecloud.com"}),
        login=oci_api_key["user"])
    hook = OCIHook(conn_id)
    monitoring = hook.get_client(oci.monitoring.MonitoringClient)
    assert monitoring.base_client.endpoint.startswith("https://telemetry-ingestion.eu-frankfurt-1.oraclecloud.com")
    identity = hook.get_client(oci.identity.IdentityClient)  # no override: the regional default
    assert "identity.eu-frankfurt-1" in identity.base_client.endpoint
    explicit = hook.get_client(oci.identity.IdentityClient, service_endpoint=oci_emulator.url)
    assert explicit.base_client.endpoint.startswith(oci_emulator.url)


@pytest.mark.parametrize(
    ("drop", "named"),
    [("tenancy", "tenancy"), ("fingerprint", "fingerprint"), ("key_content", "key_content or key_file"),
     ("user", "user")],
)
def test_missing_api_key_field_is_named(monkeypatch, oci_api_key, drop, named):
    extra = _api_key_extra(oci_api_key, key_content=oci_api_key["private_pem"])
    extra.pop(drop, None)
    conn_id = _set_conn(monkeypatch, "oci_missing", extra, login=None if drop == "user" else oci_api_key["user"])
    with pytest.raises(OCIConnectionError, match=rf"'oci_missing'.*missing {named}"):
        OCIHook(conn_id).credentials  # noqa: B018


def test_missing_region_bad_auth_type_and_bad_config_file_are_named(monkeypatch, oci_api_key, tmp_path):
    conn_id = _set_conn(monkeypatch, "oci_noregion", _api_key_extra(oci_api_key, region=None,
                                                                    key_content=oci_api_key["private_pem"]),
                        login=oci_api_key["user"])
    with pytest.raises(OCIConnectionError, match=r"extra\.region is required"):
        OCIHook(conn_id).get_client(oci.identity.IdentityClient)
    conn_id = _set_conn(monkeypatch, "oci_badauth", {"auth_type": "password", "region": "eu-frankfurt-1"})
    with pytest.raises(OCIConnectionError, match=r"extra\.auth_type 'password' is not one of"):
        OCIHook(conn_id).credentials  # noqa: B018
    conn_id = _set_conn(monkeypatch, "oci_nocfg", {"auth_type": "config_file", "region": "eu-frankfurt-1",
                                                   "config_file": str(tmp_path / "absent")})
    with pytest.raises(OCIConnectionError, match=r"config file .*absent not found"):
        OCIHook(conn_id).credentials  # noqa: B018
    (tmp_path / "config").write_text("[DEFAULT]\nregion=eu-frankfurt-1\n")
    conn_id = _set_conn(monkeypatch, "oci_noprofile", {"auth_type": "config_file", "region": "eu-frankfurt-1",
                                                       "config_file": str(tmp_path / "config"), "profile": "NOPE"})
    with pytest.raises(OCIConnectionError, match="profile 'NOPE' not in"):
        OCIHook(conn_id).credentials  # noqa: B018


def _recorder(factory: str):
    """A stand-in for a principal signer factory that records its use.

    It subclasses the SDK's real signer type so the SDK's own ``validate_config`` treats it as a
    self-sufficient principal signer, exactly as it treats the real one.
    """
    base = (oci.auth.signers.InstancePrincipalsSecurityTokenSigner if factory.startswith("Instance")
            else oci.auth.signers.SecurityTokenSigner)

    class Recorded(base):
        made: list = []

        def __init__(self, *_args, **_kwargs) -> None:  # no metadata service / RP environment here
            Recorded.made.append(self)

    return Recorded


@pytest.fixture
def no_api_key_signer(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the API-key signer must not be built for a principal auth type")

    monkeypatch.setattr(oci.signer, "Signer", refuse)


@pytest.mark.parametrize(
    ("auth_type", "factory"),
    [("instance_principal", "InstancePrincipalsSecurityTokenSigner"),
     ("resource_principal", "get_resource_principals_signer")],
)
def test_principal_auth_uses_only_its_own_signer(monkeypatch, oci_api_key, no_api_key_signer, auth_type, factory):
    recorder = _recorder(factory)
    monkeypatch.setattr(oci.auth.signers, factory, recorder)
    # API-key fields are present too: they must be ignored, not used as a fallback.
    extra = _api_key_extra(oci_api_key, key_content=oci_api_key["private_pem"], auth_type=auth_type)
    conn_id = _set_conn(monkeypatch, f"oci_{auth_type}", extra, login=oci_api_key["user"])
    hook = OCIHook(conn_id)
    config, signer = hook.credentials
    assert recorder.made == [signer]
    assert config == {"region": "eu-frankfurt-1"}
    client = hook.get_client(oci.identity.IdentityClient)
    assert client.base_client.signer is signer
    assert "identity.eu-frankfurt-1" in client.base_client.endpoint


@pytest.mark.parametrize(
    ("auth_type", "factory"),
    [("instance_principal", "InstancePrincipalsSecurityTokenSigner"),
     ("resource_principal", "get_resource_principals_signer")],
)
def test_principal_failure_is_not_hidden_by_a_fallback(monkeypatch, oci_api_key, no_api_key_signer, auth_type,
                                                       factory):
    def unavailable(*_args, **_kwargs):
        raise RuntimeError(f"{auth_type}: no metadata service / no resource principal environment")

    monkeypatch.setattr(oci.auth.signers, factory, unavailable)
    extra = _api_key_extra(oci_api_key, key_content=oci_api_key["private_pem"], auth_type=auth_type)
    conn_id = _set_conn(monkeypatch, f"oci_{auth_type}_down", extra, login=oci_api_key["user"])
    with pytest.raises(RuntimeError, match=auth_type):
        OCIHook(conn_id).credentials  # noqa: B018


def test_key_content_and_passphrase_are_masked(monkeypatch, oci_api_key):
    from airflow.sdk._shared.secrets_masker import redact

    passphrase = "correct-horse-battery-staple-7"
    pem = _new_private_pem(passphrase)  # a key no other test registered with the (global) masker
    conn_id = _set_conn(monkeypatch, "oci_mask", _api_key_extra(oci_api_key, key_content=pem),
                        login=oci_api_key["user"], password=passphrase)
    pem_body_line = pem.splitlines()[2]
    assert pem_body_line in str(redact(f"before: {pem}"))  # not masked yet
    config, _ = OCIHook(conn_id).credentials
    assert config["pass_phrase"] == passphrase
    logged = str(redact(f"config: key={pem} pass={passphrase}"))
    assert pem_body_line not in logged
    assert pem_body_line not in str(redact(f"a partial print: {pem_body_line}"))
    assert passphrase not in logged
    assert "***" in logged


def test_oci_connection_type_is_registered_with_the_providers_manager():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["oci"]  # what workers use to build the hook
    manager = ProvidersManager()  # what the UI uses for the connection form
    assert hook_info is not None
    assert hook_info.hook_class_name == "multicloud.hooks.oci.OCIHook"
    assert hook_info.connection_id_attribute_name == "oci_conn_id"
    provider = manager.providers["multicloud-ai-orchestration"]
    (conn_type,) = provider.data["connection-types"]
    assert set(conn_type["conn-fields"]) >= {"auth_type", "region", "tenancy", "fingerprint", "key_content",
                                             "key_file", "config_file", "profile"}
    assert conn_type["conn-fields"]["key_content"]["schema"]["format"] == "password"
    widgets = manager.connection_form_widgets
    assert {"extra__oci__region", "extra__oci__key_content", "extra__oci__auth_type"} <= set(widgets)
    assert manager.field_behaviours["oci"]["hidden_fields"] == ["host", "schema", "port"]


def test_the_shared_oci_conn_reaches_the_emulator_signed(oci_conn, oci_emulator, oci_api_key):
    """The ``oci_conn`` fixture every service-hook test uses signs with the test key."""
    @oci_emulator.route("GET", TENANCY_ROUTE)
    def get_tenancy(request):
        return 200, {"id": request.params["tenancy"], "name": "test", "homeRegionKey": "FRA"}

    tenancy = OCIHook(oci_conn).get_client(oci.identity.IdentityClient).get_tenancy(oci_api_key["tenancy"]).data
    assert tenancy.name == "test"
    (request,) = oci_emulator.requests_to("GET", "/tenancies/")
    assert request.signed
    assert request.key_id == _expected_key_id(oci_api_key)
