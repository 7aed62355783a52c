"""OCIHook: authenticated OCI SDK clients from one Airflow connection (connection type ``oci``).

There is no maintained Airflow 3 OCI provider, so this hook is ours. Four auth modes, chosen
explicitly by ``auth_type`` in the connection's extra; there is never a silent fallback from
one to another:

- ``api_key`` (default): login = user OCID, password = key passphrase (optional); extra
  ``tenancy``, ``fingerprint`` and either ``key_content`` (PEM) or ``key_file``.
- ``config_file``: extra ``config_file`` (default ``~/.oci/config``) and ``profile``.
- ``instance_principal``: the compute instance's identity (metadata service).
- ``resource_principal``: the function's / job's identity (OCI_RESOURCE_PRINCIPAL_* variables).

The region is required and is set on every client. ``service_endpoints`` in the extra maps a
client name (``data_integration``, ``container_engine``, ``monitoring``, ``usage_api``,
``resource_manager``, ``virtual_network``, ``identity``, ``dns``, ``load_balancer``, ``object_storage``,
``logging_ingestion``) to an endpoint override: this is how the
tests point the real SDK at a loopback emulator, and how users reach a private endpoint.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseHook

AUTH_TYPES = ("api_key", "config_file", "instance_principal", "resource_principal")
ClientT = TypeVar("ClientT")

# SDK client class name -> key in the connection's ``service_endpoints``.
CLIENT_KEYS = {
    "DataIntegrationClient": "data_integration",
    "ContainerEngineClient": "container_engine",
    "MonitoringClient": "monitoring",
    "UsageapiClient": "usage_api",
    "ResourceManagerClient": "resource_manager",
    "VirtualNetworkClient": "virtual_network",
    "IdentityClient": "identity",
    "DnsClient": "dns",
    "HealthChecksClient": "health_checks",
    "LoadBalancerClient": "load_balancer",
    "ObjectStorageClient": "object_storage",
    "LoggingClient": "logging_ingestion",
}


class OCIConnectionError(ValueError):
    """The ``oci`` connection cannot produce credentials; the message names the field."""


class OCIHook(BaseHook):
    """The identity of one ``oci`` Airflow connection: SDK config, signer and clients for a region.

    The service hooks (``multicloud.hooks.oci_*``) subclass ``OCIServiceHook`` below and own the
    calls and waits of one API family; this class only knows how to authenticate.

    :param oci_conn_id: the Airflow connection (type ``oci``) holding the identity and region.
    :param region: an OCI region id (e.g. ``eu-frankfurt-1``) overriding the connection's region.
    """

    conn_name_attr = "oci_conn_id"
    default_conn_name = "oci_default"
    conn_type = "oci"
    hook_name = "Oracle Cloud Infrastructure"

    def __init__(self, oci_conn_id: str = default_conn_name, region: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oci_conn_id = oci_conn_id
        self._region_override = region

    # ---- connection ----------------------------------------------------------------------
    @cached_property
    def _conn_settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.oci_conn_id)
        extra = conn.extra_dejson or {}
        return {
            **extra,
            "user": conn.login or extra.get("user"),
            "pass_phrase": conn.password or extra.get("pass_phrase"),
        }

    @property
    def region(self) -> str:
        region = self._region_override or self._conn_settings.get("region")
        if not region:
            raise OCIConnectionError(f"connection {self.oci_conn_id!r}: extra.region is required (e.g. eu-frankfurt-1)")
        return region

    @cached_property
    def credentials(self) -> tuple[dict[str, Any], Any]:
        """(SDK config dict, signer) for the connection's auth type."""
        return build_credentials(self._conn_settings, self.region, conn_id=self.oci_conn_id)

    # ---- clients -----------------------------------------------------------------------------
    def get_client(self, client_cls: type[ClientT], service_endpoint: str | None = None, **kwargs: Any) -> ClientT:
        """An SDK client for this connection's identity and region (endpoint optional)."""
        config, signer = self.credentials
        endpoint = service_endpoint or self.service_endpoint_for(client_cls)
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        client = client_cls(config, signer=signer, **kwargs)
        if not endpoint and hasattr(client, "base_client"):
            client.base_client.set_region(self.region)
        return client

    def service_endpoint_for(self, client_cls: type) -> str | None:
        endpoints = self._conn_settings.get("service_endpoints") or {}
        return endpoints.get(CLIENT_KEYS.get(client_cls.__name__, client_cls.__name__))

    def test_connection(self) -> tuple[bool, str]:
        import oci

        try:
            identity = self.get_client(oci.identity.IdentityClient)
            tenancy = self._conn_settings.get("tenancy") or self.credentials[0].get("tenancy")
            if tenancy:
                identity.get_tenancy(tenancy)
            else:
                identity.list_regions()
            return True, f"Connection to OCI region {self.region} works"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"


def build_credentials(settings: dict[str, Any], region: str, conn_id: str = "oci") -> tuple[dict[str, Any], Any]:
    """Build an OCI SDK config and signer from connection settings. No silent fallback."""
    import oci

    auth_type = settings.get("auth_type", "api_key")
    if auth_type not in AUTH_TYPES:
        raise OCIConnectionError(f"connection {conn_id!r}: extra.auth_type {auth_type!r} is not one of {AUTH_TYPES}")

    if auth_type == "instance_principal":
        return {"region": region}, oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
    if auth_type == "resource_principal":
        return {"region": region}, oci.auth.signers.get_resource_principals_signer()

    if auth_type == "config_file":
        location = os.path.expanduser(settings.get("config_file") or oci.config.DEFAULT_LOCATION)
        profile = settings.get("profile") or oci.config.DEFAULT_PROFILE
        try:
            config = oci.config.from_file(location, profile)
        except oci.exceptions.ConfigFileNotFound:
            raise OCIConnectionError(f"connection {conn_id!r}: config file {location} not found") from None
        except oci.exceptions.ProfileNotFound:
            raise OCIConnectionError(f"connection {conn_id!r}: profile {profile!r} not in {location}") from None
        config["region"] = region
    else:
        missing = [k for k in ("user", "tenancy", "fingerprint") if not settings.get(k)]
        if not (settings.get("key_content") or settings.get("key_file")):
            missing.append("key_content or key_file")
        if missing:
            raise OCIConnectionError(
                f"connection {conn_id!r} (auth_type api_key): missing {', '.join(missing)} "
                "(login holds the user OCID; extra holds tenancy, fingerprint, key_content/key_file)"
            )
        config = {
            "user": settings["user"], "tenancy": settings["tenancy"], "fingerprint": settings["fingerprint"],
            "region": region, "pass_phrase": settings.get("pass_phrase"),
        }
        if settings.get("key_content"):
            config["key_content"] = settings["key_content"]
        else:
            config["key_file"] = os.path.expanduser(settings["key_file"])

    _mask(config)
    oci.config.validate_config(config)
    signer = oci.signer.Signer(
        tenancy=config["tenancy"], user=config["user"], fingerprint=config["fingerprint"],
        private_key_file_location=config.get("key_file"), pass_phrase=config.get("pass_phrase"),
        private_key_content=config.get("key_content"),
    )
    return config, signer


def _mask(config: dict[str, Any]) -> None:
    """Register the secret parts with Airflow's secrets masker so they never reach a log."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside Airflow
        return
    # No ``name=``: the masker skips values whose name is not a sensitive key name, and
    # "key_content" is not one. PEM body lines are masked too, so a partial print is hidden.
    for key in ("key_content", "pass_phrase"):
        if config.get(key):
            mask_secret(config[key])
    for line in (config.get("key_content") or "").splitlines():
        if line.strip() and not line.startswith("-----"):
            mask_secret(line.strip())


# ---- service hooks: one per OCI API family, over the OCIHook identity ------------------------------
TERMINAL = "terminal"


class OCIWaiterTimeout(TimeoutError):
    """A waiter's deadline passed with the resource still not terminal; ``last`` is its last read."""

    def __init__(self, message: str, last: Any) -> None:
        super().__init__(message)
        self.last = last


class OCIServiceHook(OCIHook):
    """Base of the per-service hooks: one cached SDK client and generic sync/async waiters.

    Subclasses set ``client_path`` (``"oci.data_integration.DataIntegrationClient"``) and add the
    service's calls. The SDK is synchronous, so the async waiters run every call in a worker thread
    and never block the triggerer's event loop. Deadlines are wall-clock (``time.time()``) so a
    trigger that serializes its start keeps its deadline across triggerer restarts.

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path: str = ""

    @cached_property
    def conn(self) -> Any:
        """The service's SDK client for this identity and region (built once per hook)."""
        import importlib

        module_name, _, class_name = self.client_path.rpartition(".")
        return self.get_client(getattr(importlib.import_module(module_name), class_name))

    @staticmethod
    def wait(read: Any, is_terminal: Any, *, describe: str, poll_interval: float = 30.0,
             max_poll_interval: float = 300.0, deadline: float | None = None, log: Any = None) -> Any:
        """Call ``read()`` with exponential backoff until ``is_terminal(result)``; returns the result.

        Raises ``OCIWaiterTimeout`` when the wall-clock ``deadline`` would pass before the next read.
        """
        import time

        poll = _Backoff(is_terminal, describe, poll_interval, max_poll_interval, deadline, log)
        while (delay := poll.after(current := read())) is not None:
            time.sleep(delay)
        return current

    @staticmethod
    async def async_wait(read: Any, is_terminal: Any, *, describe: str, poll_interval: float = 30.0,
                         max_poll_interval: float = 300.0, deadline: float | None = None, log: Any = None) -> Any:
        """``wait`` for the triggerer: every SDK call in a worker thread, sleeps on the event loop."""
        import asyncio

        poll = _Backoff(is_terminal, describe, poll_interval, max_poll_interval, deadline, log)
        while (delay := poll.after(current := await asyncio.to_thread(read))) is not None:
            await asyncio.sleep(delay)
        return current


class _Backoff:
    """The decisions of ``wait`` and ``async_wait`` between two reads, shared by both."""

    def __init__(self, is_terminal: Any, describe: str, poll_interval: float, max_poll_interval: float,
                 deadline: float | None, log: Any) -> None:
        self.is_terminal, self.describe, self.log = is_terminal, describe, log
        self.delay, self.max_delay, self.deadline = poll_interval, max_poll_interval, deadline

    def after(self, current: Any) -> float | None:
        """None when ``current`` is terminal, else the seconds to sleep before the next read;
        ``OCIWaiterTimeout`` when that sleep would pass the deadline."""
        import time

        if self.is_terminal(current):
            return None
        if self.log is not None:
            self.log.info("%s: %s", self.describe, _state_of(current))
        if self.deadline is not None and time.time() + self.delay > self.deadline:
            raise OCIWaiterTimeout(f"{self.describe} still {_state_of(current)} at its deadline", current)
        delay, self.delay = self.delay, min(self.delay * 2, self.max_delay)
        return delay


def _state_of(resource: Any) -> str:
    return str(getattr(resource, "status", None) or getattr(resource, "lifecycle_state", None) or resource)
