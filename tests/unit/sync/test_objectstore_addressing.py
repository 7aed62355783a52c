"""obstore stores and the signed PUT follow the connection's S3 addressing style, as botocore does."""

from __future__ import annotations

import json

import pytest

from multicloud.sync.objectstore import _NativeStores, _SignedPut, virtual_hosted
from multicloud.sync.storage import s3_storage_options

CUSTOM = "http://s3.example.test:8333"


def _options(style: str | None, endpoint: str | None = CUSTOM) -> dict:
    return {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-central-1"}
            if endpoint else {"region_name": "eu-central-1"},
            "config_kwargs": {"s3": {"addressing_style": style}} if style else {}}


def _botocore_url(options: dict, bucket: str) -> str:
    """The URL botocore's own client sends a PutObject to, with the same options."""
    import botocore.session
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "s3", aws_access_key_id="k", aws_secret_access_key="s", config=Config(**options["config_kwargs"]),
        **options["client_kwargs"])
    sent = []

    class Empty:
        def stream(self):
            return iter(())

    def capture(request, **_):
        sent.append(request.url)
        return AWSResponse(request.url, 200, {}, Empty())

    client.meta.events.register("before-send.s3.PutObject", capture)
    client.put_object(Bucket=bucket, Key="a/b.bin", Body=b"x")
    return sent[0].split("?")[0]


@pytest.mark.parametrize(("style", "endpoint", "bucket"), [
    ("virtual", CUSTOM, "data-bucket"), ("path", CUSTOM, "data-bucket"), (None, CUSTOM, "data-bucket"),
    ("auto", None, "data-bucket"), ("virtual", None, "data-bucket"), ("path", None, "data-bucket"),
    (None, None, "dotted.bucket.name")])
def test_the_signed_put_addresses_the_bucket_as_botocore_does(style, endpoint, bucket):
    options = _options(style, endpoint)
    base = "https://s3.eu-central-1.amazonaws.com" if endpoint is None else endpoint
    put = _SignedPut(base, "eu-central-1", None, True, {}, options)
    assert put.url(bucket, "a/b.bin") == _botocore_url(options, bucket)


@pytest.mark.parametrize(("style", "virtual", "endpoint"), [
    ("virtual", True, "http://data-bucket.s3.example.test:8333"), ("path", False, CUSTOM), (None, False, CUSTOM)])
def test_obstore_follows_the_addressing_style(style, virtual, endpoint):
    config, client_options = _NativeStores(_options(style)).config("data-bucket")
    assert config["virtual_hosted_style_request"] is virtual
    assert config["endpoint"] == endpoint  # virtual-hosted: obstore wants the bucket's own endpoint
    assert client_options["allow_http"] is True


def test_aws_defaults_are_virtual_hosted_for_dns_names_only():
    assert virtual_hosted(_options(None, None), "data-bucket")
    assert not virtual_hosted(_options(None, None), "dotted.bucket")
    assert not virtual_hosted(_options(None), "data-bucket")  # a custom endpoint: path-style unless told


def test_the_connections_addressing_style_reaches_the_storage_options(monkeypatch):
    conn = {"conn_type": "aws", "login": "k", "password": "s",
            "extra": {"endpoint_url": CUSTOM, "config_kwargs": {"s3": {"addressing_style": "virtual"}}}}
    monkeypatch.setenv("AIRFLOW_CONN_ADDRESSED", json.dumps(conn))
    options = s3_storage_options("addressed")
    assert options["config_kwargs"]["s3"] == {"addressing_style": "virtual"}
    assert virtual_hosted(options, "data-bucket")
    assert s3_storage_options("addressed", "oci")["config_kwargs"]["s3"] == {"addressing_style": "path"}  # OCI's need


class _Sent(Exception):
    """Raised by a before-send hook: the request's URL was seen, nothing goes on the wire."""


def _first_url(client, call) -> str:
    sent: list[str] = []

    def capture(request, **_):
        sent.append(request.url)
        raise _Sent

    client.meta.events.register("before-send.s3.HeadObject", capture)
    with pytest.raises(_Sent):
        call()
    return sent[0].split("?")[0]


@pytest.mark.parametrize(("style", "endpoint", "expected"), [
    ("virtual", CUSTOM, "http://data-bucket.s3.example.test:8333/a/b.bin"),
    ("path", CUSTOM, f"{CUSTOM}/data-bucket/a/b.bin"),
    (None, CUSTOM, f"{CUSTOM}/data-bucket/a/b.bin"),
    ("path", None, "https://s3.eu-central-1.amazonaws.com/data-bucket/a/b.bin"),
    ("virtual", None, "https://data-bucket.s3.eu-central-1.amazonaws.com/a/b.bin")])
def test_every_client_built_for_a_location_follows_the_addressing_style(style, endpoint, expected):
    """s3fs (listings, the manifest read, routing's writes), both botocore clients of the native
    store, the signed PUT and obstore: one URL for one object, whatever the connection says."""
    import fsspec
    from fsspec.asyn import sync

    from multicloud.sync.objectstore import _client_for

    options = _options(style, endpoint)
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    s3fs_client = sync(fs.loop, fs.set_session)
    assert _first_url(s3fs_client, lambda: fs.info("data-bucket/a/b.bin")) == expected
    for sign_payload in (None, False):
        client = _client_for(fs, sign_payload=sign_payload)
        assert _first_url(client, lambda c=client: c.head_object(Bucket="data-bucket", Key="a/b.bin")) == expected
        put = _SignedPut.for_client(client, options)
        assert put.url("data-bucket", "a/b.bin") == expected
    config, _ = _NativeStores(options).config("data-bucket")
    base = config.get("endpoint") or ("https://data-bucket.s3.eu-central-1.amazonaws.com"
                                      if config["virtual_hosted_style_request"] else None)
    assert config["virtual_hosted_style_request"] is (style == "virtual")
    if base is not None:  # obstore joins the key to the bucket's endpoint (virtual) or to endpoint/bucket (path)
        url = f"{base}/a/b.bin" if config["virtual_hosted_style_request"] else f"{base}/data-bucket/a/b.bin"
        assert url == expected
