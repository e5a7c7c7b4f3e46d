"""Shared test settings: hypothesis is deterministic and bounded (CI and local alike).

``LAZYARR_HYPOTHESIS_PROFILE=thorough`` runs many more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=30, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", derandomize=False, max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("LAZYARR_HYPOTHESIS_PROFILE", "ci"))

# The suite compares with array_api_strict set to the standard version lazyarr implements.
import array_api_strict as _strict  # noqa: E402

_strict.set_array_api_strict_flags(api_version="2024.12")
