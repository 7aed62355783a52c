"""Provider metadata: registers the ``oci`` connection type and its form fields with Airflow.

Airflow 3's providers manager reads this through the ``apache_airflow_provider`` entry point
(pyproject.toml); ``make`` installs the project in editable mode so the entry point exists.
"""

from __future__ import annotations

from typing import Any


def _field(label: str, description: str, *, secret: bool = False, enum: list[str] | None = None,
           default: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    if enum:
        schema["enum"] = enum
    if default is not None:
        schema["default"] = default
    return {"label": label, "description": description, "schema": schema}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "multicloud-ai-orchestration",
        "name": "Multi-cloud AI orchestration",
        "description": "OCI hook and multi-cloud operators for residency-aware sync, rollout, cost and DR.",
        "versions": ["0.1.0"],
        # oci:// assets (OCI Object Storage, through ocifs) reach OpenLineage like the amazon
        # provider's s3:// ones.
        "asset-uris": [
            {
                "schemes": ["oci"],
                "handler": "multicloud.lineage.sanitize_oci_uri",
                "to_openlineage_converter": "multicloud.lineage.oci_asset_to_openlineage",
            }
        ],
        "connection-types": [
            {
                "connection-type": "oci",
                "hook-class-name": "multicloud.hooks.oci.OCIHook",
                "hook-name": "Oracle Cloud Infrastructure",
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "port"],
                    "relabeling": {"login": "User OCID (api_key)", "password": "Private key passphrase"},
                    "placeholders": {"login": "ocid1.user.oc1..aaaa"},
                },
                "conn-fields": {
                    "auth_type": _field(
                        "Auth type", "How to authenticate; never falls back to another mode",
                        enum=["api_key", "config_file", "instance_principal", "resource_principal"],
                        default="api_key",
                    ),
                    "region": _field("Region", "OCI region id, e.g. eu-frankfurt-1 (set on every client)"),
                    "tenancy": _field("Tenancy OCID", "api_key: the tenancy OCID"),
                    "fingerprint": _field("Key fingerprint", "api_key: the API key's fingerprint"),
                    "key_content": _field("Private key (PEM)", "api_key: the PEM text", secret=True),
                    "key_file": _field("Private key file", "api_key: path to the PEM file on workers"),
                    "config_file": _field("Config file", "config_file: path, default ~/.oci/config"),
                    "profile": _field("Profile", "config_file: profile name, default DEFAULT"),
                },
            }
        ],
    }
