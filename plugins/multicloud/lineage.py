"""Lineage of cross-cloud copies and routing: every transfer reports its inputs and outputs.

``record_transfer`` hands the source and target URLs to Airflow's hook-lineage collector; with
the OpenLineage provider enabled (its hook-lineage reader makes the collector real), the task's
OpenLineage COMPLETE event then carries them as input and output datasets. When OpenLineage is
off the collector is a no-op. Lineage is evidence, never a reason to fail a copy: errors are
logged and swallowed.

URL forms: ``file:///...`` and bare paths (local estate), ``s3://bucket/key`` (AWS, OCI
S3-compat) translate through the providers' OpenLineage converters. ``oci://bucket@namespace/p``
has no converter in any provider, so this project registers its own for scheme ``oci``
(provider_info ``asset-uris``): ``sanitize_oci_uri`` checks the URI and ``oci_asset_to_openlineage``
makes the dataset (namespace ``oci://bucket@namespace``, name the object path).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache
from urllib.parse import SplitResult, urlsplit

log = logging.getLogger(__name__)


class TransferContext:
    """The lineage 'context' object: which component of ours moved the data (sync, routing...)."""

    def __init__(self, component: str) -> None:
        self.component = component

    def __repr__(self) -> str:
        return f"multicloud:{self.component}"


@cache
def _context(component: str) -> TransferContext:
    # One object per component: the collector de-duplicates entries by (uri, extra, id(context)).
    return TransferContext(component)


def record_transfer(sources: Iterable[str], targets: Iterable[str], component: str = "sync") -> int:
    """Report one transfer's inputs and outputs; returns how many assets were handed over."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        context = _context(component)
        count = 0
        for url in sources:
            collector.add_input_asset(context, uri=asset_uri(url))
            count += 1
        for url in targets:
            collector.add_output_asset(context, uri=asset_uri(url))
            count += 1
        return count
    except Exception as exc:  # lineage must never fail the business task
        log.warning("could not record lineage for %s: %s", component, exc)
        return 0


def asset_uri(url: str) -> str:
    """``file:///a/b`` unchanged; ``s3://bucket/key`` unchanged; a bare path becomes ``file://``."""
    if not url:
        raise ValueError("empty URL in a transfer's lineage")
    return url if urlsplit(url).scheme else f"file://{url}"


def sanitize_oci_uri(uri: SplitResult) -> SplitResult:
    """Airflow's asset-URI handler for ``oci://bucket@namespace/path`` (registered in provider_info)."""
    bucket, at, namespace = uri.netloc.partition("@")
    if not (bucket and at and namespace):
        raise ValueError(f"URI format oci:// must be oci://<bucket>@<namespace>/<path>; got {uri.geturl()!r}")
    return uri


def oci_asset_to_openlineage(asset, lineage_context):
    """OpenLineage dataset for an ``oci://bucket@namespace/path`` asset."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = urlsplit(asset.uri)
    return Dataset(namespace=f"oci://{parsed.netloc}", name=parsed.path.lstrip("/") or "/")
