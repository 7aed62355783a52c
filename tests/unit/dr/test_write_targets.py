"""The write target: the primary unless a failover promoted the secondary, per pair and dataset."""

from __future__ import annotations

from types import SimpleNamespace

from multicloud.dr.write_targets import set_write_target, write_target, write_targets, write_targets_file

PAIR = SimpleNamespace(id="eu-churn", primary="oci-fra", secondary="gcp-euw4")


def test_without_an_entry_every_dataset_is_written_to_the_primary(estate_home):
    assert write_targets(estate_home) == {}
    assert write_target(PAIR, "customer-events", estate_home) == "oci-fra"
    assert not write_targets_file(estate_home).exists()  # reading writes nothing


def test_a_promotion_moves_only_its_pair_and_datasets_and_removing_it_returns_to_the_primary(estate_home):
    set_write_target("us-churn", {"orders": "aws-use1"}, estate_home)
    set_write_target(PAIR.id, {"customer-events": PAIR.secondary}, estate_home)
    assert write_target(PAIR, "customer-events", estate_home) == "gcp-euw4"
    assert write_target(PAIR, "support-tickets", estate_home) == "oci-fra"  # not promoted
    set_write_target(PAIR.id, None, estate_home)
    assert write_target(PAIR, "customer-events", estate_home) == "oci-fra"
    assert write_targets(estate_home) == {"us-churn": {"orders": "aws-use1"}}
    set_write_target(PAIR.id, None, estate_home)  # removing twice is harmless (a retried fail back)
    assert write_targets(estate_home) == {"us-churn": {"orders": "aws-use1"}}
