"""The estate model and its loader. ``python -m multicloud.estate validate FILE``."""

from multicloud.estate.loader import EstateError, EstateProblem, load_estate, parse_estate
from multicloud.estate.models import Cloud, DataClass, Dataset, Estate, Region, Workload

__all__ = [
    "Cloud", "DataClass", "Dataset", "Estate", "EstateError", "EstateProblem", "Region", "Workload",
    "load_estate", "parse_estate",
]
