"""Provider metadata: what Airflow's providers manager reads through the ``apache_airflow_provider``
entry point (the ``oci`` connection type, its hook, its form fields, the ``oci://`` asset handler)."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from airflow.providers_manager import ProvidersManager

from multicloud.provider_info import get_provider_info

OCI_FIELDS = {"auth_type", "region", "tenancy", "fingerprint", "key_content", "key_file", "config_file", "profile"}


def test_the_entry_point_is_registered():
    (point,) = [p for p in entry_points(group="apache_airflow_provider") if p.value.startswith("multicloud.")]
    assert point.load() is get_provider_info


def test_airflow_registers_the_oci_connection_type_with_its_hook_and_form():
    manager = ProvidersManager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hook = manager.hooks["oci"]
    assert hook.hook_class_name == "multicloud.hooks.oci.OCIHook"
    assert hook.connection_id_attribute_name == "oci_conn_id"
    assert hook.connection_testable
    assert {k.removeprefix("extra__oci__") for k in manager.connection_form_widgets
            if k.startswith("extra__oci__")} == OCI_FIELDS
    assert manager.field_behaviours["oci"]["hidden_fields"] == ["host", "schema", "port"]


def test_the_private_key_field_is_a_password_and_auth_type_a_closed_choice():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["key_content"]["schema"]["format"] == "password"
    assert all("format" not in f["schema"] for name, f in fields.items() if name != "key_content")
    assert fields["auth_type"]["schema"]["enum"] == ["api_key", "config_file", "instance_principal",
                                                     "resource_principal"]
    assert fields["auth_type"]["schema"]["default"] == "api_key"


def test_every_dotted_path_named_in_the_metadata_imports():
    import importlib

    info = get_provider_info()
    paths = [info["connection-types"][0]["hook-class-name"],
             *(p for uri in info["asset-uris"] for p in (uri["handler"], uri["to_openlineage_converter"]))]
    for path in paths:
        module, _, name = path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), path
