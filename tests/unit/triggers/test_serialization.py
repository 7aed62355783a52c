"""Every trigger of the package survives a triggerer restart: what it serializes names an
importable class and rebuilds a trigger that serializes the same (the triggerer's contract)."""

from __future__ import annotations

import importlib

import pytest

from multicloud.triggers.container_engine import OKEWorkRequestTrigger
from multicloud.triggers.data_integration import OCIDataIntegrationTaskRunTrigger
from multicloud.triggers.dr_health import HealthSignalTrigger
from multicloud.triggers.resource_manager import ResourceManagerJobTrigger
from multicloud.triggers.source_partitions import SourcePartitionsTrigger

TRIGGERS = {
    "oke_work_request": lambda: OKEWorkRequestTrigger("ocid1.workrequest.oc1..a", "oci_x", poll_interval_s=2.0,
                                                      timeout_s=90.0),
    "data_integration": lambda: OCIDataIntegrationTaskRunTrigger(
        task_run_key="run-1", workspace_id="ocid1.disworkspace.oc1..w", application_key="app", timeout_s=600),
    "resource_manager": lambda: ResourceManagerJobTrigger(job_id="ocid1.ormjob.oc1..j", region="eu-frankfurt-1"),
    "dr_health": lambda: HealthSignalTrigger("state/dr/signals.jsonl", poll_interval=0.2, kinds=["failover"]),
    "source_partitions": lambda: SourcePartitionsTrigger(
        partitions=[{"dataset": "customer-events", "region": "oci-fra", "partition": "2026-12-01T10"}]),
}


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_a_serialized_trigger_rebuilds_the_same(name):
    trigger = TRIGGERS[name]()
    classpath, kwargs = trigger.serialize()
    module, _, qualname = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), qualname)
    assert cls is type(trigger)
    assert cls(**kwargs).serialize() == (classpath, kwargs)
