"""Hypothesis profiles: 'dev' (default, quick), 'ci' (more examples, no deadline,
derandomised so CI is reproducible). Choose with HYPOTHESIS_PROFILE=ci."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/properties" in str(item.fspath):
            item.add_marker(pytest.mark.properties)
