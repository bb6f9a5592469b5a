"""A WMS request's size is checked before any arithmetic that a hostile bbox could overflow (the hostile run found
a 1e300 m bbox answered as an internal error once job failures stopped all being client errors)."""

import re
from pathlib import Path

import pytest

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.workflows.cost import segmentation_cost
from ocsge_processes.workflows.images import ImagePolicy, fetch_image

# The URL is never fetched: each request is refused on its numbers first.
URL = "http://127.0.0.1:9/wms"


@pytest.mark.parametrize(
    ("bbox", "resolution", "message"),
    [
        ([0, 0, 1e300, 1e300], 0.2, "inf pixels is over the limit"),
        ([0, 0, 1e300, 1e300], 1e-300, "inf pixels is over the limit"),
        ([0, 0, 1e6, 1e6], 1e-300, "inf pixels is over the limit"),
        ([0, 0, 3e5, 3e5], 0.2, "2.25e+12 pixels is over the limit"),
        ([0, 0, float("inf"), 10], 0.2, "must be finite and increasing"),
        ([0, 0, float("nan"), 10], 0.2, "must be finite and increasing"),
        ([0, 0, 10, 10], float("nan"), "must be finite and increasing"),
    ],
)
def test_an_oversized_or_non_finite_wms_extent_is_a_client_error(
    bbox: list[float], resolution: float, message: str, tmp_path: Path
) -> None:
    spec = {"wms": {"url": URL, "bbox": bbox, "resolution": resolution}}
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        fetch_image(spec, "image", ImagePolicy(), tmp_path)


@pytest.mark.parametrize("resolution", [1e-300, float("nan")])
def test_the_sync_cost_of_an_overflowing_extent_is_no_estimate(resolution: float) -> None:
    """The web worker estimates a sync request's cost before any job runs; an extent that overflows gives no
    estimate (the run then refuses it with its message) instead of an OverflowError in the request."""
    spec = {"image": {"wms": {"url": URL, "bbox": [0, 0, 1e300, 1e300], "resolution": resolution}}}
    assert segmentation_cost(spec, ImagePolicy()) is None
