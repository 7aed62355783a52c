"""fsspec access to a region's object storage: ``file://``, ``s3://`` (AWS or OCI S3-compat), ``oci://``.

- ``file://``: the local estate's folders.
- ``s3://``: credentials and endpoint from the amazon provider's connection (``connection_id``),
  so secrets stay in Airflow connections. ``s3_compat: oci`` applies what OCI Object Storage's
  S3-compatibility API needs: path-style addressing, and botocore's checksum calculation and
  validation only ``when_required`` (OCI rejects the aws-chunked uploads newer boto3 sends).
- ``oci://``: ocifs with the OCIHook's identity (``bucket@namespace/path`` URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import StorageSpec

OCI_S3_COMPAT_CONFIG = {
    "s3": {"addressing_style": "path"},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


@dataclass(frozen=True)
class Location:
    """A filesystem and a path inside it (no scheme): what the copier and router work on."""

    fs: Any
    path: str
    url: str
    s3_compat: str | None = None  # "oci": the object store's checksums are Content-MD5 (see objectstore.py)

    def child(self, *parts: str) -> Location:
        """An object or folder below this one; refuses any part that would leave it (``..``,
        absolute, encoded separators, control characters, a symlink out of a local root)."""
        suffix = "/".join(paths.clean_relative(p, f"object path under {self.url}") for p in parts if p)
        if isinstance(self.fs, LocalFileSystem):
            paths.join_within(self.path, suffix, what=f"object path under {self.url}")
        return Location(self.fs, f"{self.path.rstrip('/')}/{suffix}", f"{self.url.rstrip('/')}/{suffix}",
                        self.s3_compat)


def s3_storage_options(connection_id: str | None, s3_compat: str | None = None) -> dict[str, Any]:
    """s3fs options from an Airflow aws connection (credentials, endpoint_url, region, addressing style)."""
    options: dict[str, Any] = {"client_kwargs": {}, "config_kwargs": {}}
    if connection_id:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=connection_id)
        credentials = hook.get_credentials()
        options.update(key=credentials.access_key, secret=credentials.secret_key)
        if credentials.token:
            options["token"] = credentials.token
        extra = hook.conn_config
        if extra.endpoint_url:
            options["client_kwargs"]["endpoint_url"] = extra.endpoint_url
        if extra.region_name:
            options["client_kwargs"]["region_name"] = extra.region_name
        if extra.verify is not None:
            options["client_kwargs"]["verify"] = extra.verify
        style = (getattr(extra.botocore_config, "s3", None) or {}).get("addressing_style")
        if style:  # the connection's config_kwargs {"s3": {"addressing_style": ...}}, as botocore reads it
            options["config_kwargs"]["s3"] = {"addressing_style": style}
    if s3_compat == "oci":
        options["config_kwargs"].update(OCI_S3_COMPAT_CONFIG)
    return options


def oci_storage_options(connection_id: str | None) -> dict[str, Any]:
    from multicloud.hooks.oci import OCIHook

    hook = OCIHook(connection_id or OCIHook.default_conn_name)
    config, signer = hook.credentials
    return {"config": config, "signer": signer, "region": hook.region}


def filesystem_for(url: str, connection_id: str | None = None, s3_compat: str | None = None) -> Any:
    scheme = urlsplit(url).scheme or "file"
    if scheme == "file":
        return fsspec.filesystem("file", auto_mkdir=True)
    if scheme == "s3":
        return fsspec.filesystem("s3", **s3_storage_options(connection_id, s3_compat))
    if scheme == "oci":
        import ocifs

        return ocifs.OCIFileSystem(**oci_storage_options(connection_id))
    if scheme == "memory":
        return fsspec.filesystem("memory")
    raise ValueError(f"no storage driver for {url!r}: use file://, s3:// or oci://")


def strip_scheme(url: str) -> str:
    split = urlsplit(url)
    if split.scheme in ("", "file"):
        return split.path
    return f"{split.netloc}{split.path}"


def location(url: str, connection_id: str | None = None, s3_compat: str | None = None) -> Location:
    paths.check_url(url)
    return Location(filesystem_for(url, connection_id, s3_compat), strip_scheme(url), url, s3_compat)


def location_for(storage: StorageSpec, url: str) -> Location:
    """A location inside a region's storage (its connection and S3-compat settings applied).

    Whatever built ``url`` (a Param, a version, a run id), it must lie under ``storage.url``.
    """
    paths.check_within(url, storage.url, what="storage url")
    return location(url, storage.connection_id, storage.s3_compat)
