"""A DR pair's places: the cluster of each region, the pair's models, their endpoints and the version a probe sees."""

from __future__ import annotations

import pytest

from multicloud.dr.pair import backends, cluster_driver, cluster_of, pair_models, served_version
from tests.dags.dr_fixtures import serve_pair


def test_each_region_of_the_pair_names_its_cluster(estate):
    pair = estate.dr_pair("eu-churn")
    assert (cluster_of(estate, pair.primary), cluster_of(estate, pair.secondary)) == ("oke-fra", "gke-euw4")
    assert cluster_driver(estate, "oke-fra").served() == {}


def test_a_region_without_a_cluster_cannot_serve_a_pair(estate):
    with pytest.raises(ValueError, match="'onprem-hq' has no cluster"):
        cluster_of(estate, "onprem-hq")
    with pytest.raises(ValueError, match="no cluster"):
        backends(estate, "onprem-hq", ["churn-eu"])


def test_an_unknown_region_is_refused(estate):
    with pytest.raises(KeyError):
        cluster_of(estate, "nowhere-1")


def test_the_pair_models_are_those_of_its_workloads(estate):
    assert pair_models(estate, estate.dr_pair("eu-churn")) == ["churn-eu"]


def test_backends_are_the_serving_endpoints_in_that_region_only(estate, estate_home):
    assert backends(estate, "oci-fra", ["churn-eu"]) == []  # nothing served yet: nothing to steer to
    serve_pair(estate, estate_home)
    primary, secondary = backends(estate, "oci-fra", ["churn-eu"]), backends(estate, "gcp-euw4", ["churn-eu"])
    assert len(primary) == len(secondary) == 1
    assert primary != secondary
    assert all(url.startswith("http://127.0.0.1:") for url in primary + secondary)
    assert backends(estate, "oci-fra", ["not-a-model"]) == []


@pytest.mark.parametrize(("entry", "expected"), [
    (None, None),  # not served
    ({"versions": {"v1": 0}, "weights": {}}, None),  # deployed, no replica: nothing answers
    ({"versions": {"v1": 2}, "weights": {}}, "v1"),
    ({"versions": {"v1": 1, "v2": 1}, "weights": {}}, "v2"),  # no weights: the newest live version
    ({"versions": {"v1": 1, "v2": 1}, "weights": {"v1": 90, "v2": 10}}, "v1"),  # the one taking most traffic
    ({"versions": {"v1": 1, "v2": 1}, "weights": {"v1": 50, "v2": 50}}, "v2"),  # a tie: the newer
    ({"versions": {"v1": 1, "v2": 0}, "weights": {"v2": 100}}, "v1"),  # weight on a version with no replica
])
def test_served_version_is_the_live_version_taking_most_traffic(entry, expected):
    served = {"churn-eu": entry} if entry is not None else {}
    assert served_version(served, "churn-eu") == expected
