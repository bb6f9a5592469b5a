"""The /map page shows a published segmentation run: the layer is offered once the collection exists, the view
goes to the run, and its polygons are drawn from the vector tiles in the couverture palette, with their legend.

The server is made like `make serve`'s demo: the Hérault communes, then `ocsge segment` and
`ocsge publish-segmentation` over the real Montpellier patch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.services import web_server

from ..conftest import BIN, SHARED, ocsge
from .conftest import ORTHO, features, palette_pixels, screenshot

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("demo-segmentation")
    store, jobs, classes = folder / "s.gpkg", folder / "jobs.sqlite", folder / "classes.tif"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    ocsge("segment", str(ORTHO / "test_data_rgb.tif"), "--irc", str(ORTHO / "test_data_irc.tif"), "--out", str(classes))
    ocsge(
        "publish-segmentation",
        "--store",
        str(store),
        "--results",
        str(jobs),
        "--run",
        "demo",
        "--departement",
        "34",
        str(classes),
    )
    with web_server(str(store), folder / "server", BIN, OCSGE_JOBS=str(jobs)) as url:
        yield url


def test_the_map_draws_a_published_run_in_the_couverture_palette(page, demo_server: str) -> None:
    page.goto(f"{demo_server}/map")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)  # the couverture first (nothing here)
    page.select_option("#style", "segmentation")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    page.wait_for_function("() => window.ocsgeMap.loaded() && window.ocsgeMap.areTilesLoaded()", timeout=60_000)
    assert page.locator("#map").get_attribute("data-mode") == "tiles"
    assert page.locator("#millesime").is_disabled(), "a run has no millésime to choose"
    shot = screenshot(page, "map-segmentation")
    png = page.screenshot(clip=page.locator("#map").bounding_box())
    painted = {code for code, n in palette_pixels(png).items() if n >= 50}
    published = {f["properties"]["code_cs"] for f in features(demo_server, "ocsge-segmentation", run="demo")}
    assert painted and painted <= published, f"{shot}: {painted} drawn, {published} published"
    legend = set(page.locator("#legend li").evaluate_all("items => items.map(i => i.dataset.code)"))
    assert painted <= legend <= published
