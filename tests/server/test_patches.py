"""The pygeoapi patches: applied once, only on the pygeoapi series they were written for, never silently lost."""

from __future__ import annotations

import types

import pygeoapi
import pytest
from pygeoapi.api import itemtypes
from pygeoapi.api import processes as processes_api

from ocsge_processes.server import patches, speedups


@pytest.mark.parametrize("version", ["0.24.0", "0.24.3"])
def test_the_series_they_were_written_for_is_accepted(version: str) -> None:
    patches.check_version(version)


@pytest.mark.parametrize("version", ["0.25.0", "0.23.1", "1.24.0", "0.2.4"])
def test_another_pygeoapi_is_refused_with_both_versions_named(version: str) -> None:
    with pytest.raises(RuntimeError, match=rf"pygeoapi {version} is installed.*written for pygeoapi 0\.24\.x"):
        patches.check_version(version)


def test_the_installed_pygeoapi_is_the_one_the_patches_were_written_for() -> None:
    patches.check_version(pygeoapi.__version__)


def test_apply_puts_ours_in_place_once() -> None:
    patches.apply()
    patches.apply()
    assert itemtypes.transform_bbox is speedups.transform_bbox
    assert itemtypes.modify_pygeofilter is speedups.modify_pygeofilter
    assert itemtypes.to_json is speedups.to_json
    assert itemtypes.parse_cql2_text is not None and itemtypes.parse_cql2_text.__module__ == "ocsge_processes.filters"
    for handler in (processes_api.get_job_result, processes_api.execute_process):
        assert handler.__code__.co_filename == patches.__file__
        assert handler.__wrapped__.__code__.co_filename.endswith("pygeoapi/api/processes.py"), "wrapped once"
    classes = itemtypes.CONFORMANCE_CLASSES_FEATURES
    assert all(classes.count(uri) == 1 for uri in patches.ADDED_CONFORMANCE)
    assert not set(patches.REMOVED_CONFORMANCE) & set(classes)


def test_a_name_pygeoapi_no_longer_has_is_an_error_not_a_lost_patch() -> None:
    module = types.ModuleType("pygeoapi.api.newer")
    with pytest.raises(RuntimeError, match=r"pygeoapi\.api\.newer\.to_json is gone"):
        patches._replace(module, "to_json", speedups.to_json)
    assert not hasattr(module, "to_json")
