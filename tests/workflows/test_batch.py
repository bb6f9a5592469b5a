"""`ocsge artificialisation` fills the `artificialisation-communes` collection, served with CQL2."""

from __future__ import annotations

import pytest
import requests

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES
from ocsge_processes.stores import open_store

from ..conftest import DEMO_COMMUNES


def test_every_commune_and_pair_is_stored(store_url: str) -> None:
    frame = open_store(store_url).read_frame(ARTIFICIALISATION_COMMUNES, 2154)
    pairs = set(zip(frame.millesime_avant, frame.millesime_apres, strict=True))
    assert pairs == {(2015, 2018), (2021, 2024)}
    assert len(frame) == 2 * 17 and frame.id.is_unique
    sybarval = frame[frame.millesime_avant == 2015]
    assert sybarval.taux_artificialisation.isna().all(), "no stock layer for 2015/2018: no invented rate"
    assert (sybarval.artificialisation_ha > 0).all()
    generated = frame[frame.millesime_avant == 2021].set_index("code_insee")
    covered = generated.loc[DEMO_COMMUNES]
    assert covered.taux_artificialisation.between(0, 100).all() and covered.taux_artificialisation.notna().all()
    uncovered = generated.drop(index=DEMO_COMMUNES)
    assert uncovered.taux_artificialisation.isna().all(), "communes the generated layer does not cover get no rate"


def test_collection_is_served_with_cql2(server: str, store_url: str) -> None:
    url = f"{server}/collections/artificialisation-communes/items"
    everything = requests.get(url, params={"f": "json", "limit": 100}, timeout=60).json()
    rates = [f["properties"]["taux_artificialisation"] for f in everything["features"]]
    threshold = sorted(r for r in rates if r is not None)[0]
    above = requests.get(
        url, params={"f": "json", "filter": f"taux_artificialisation > {threshold}"}, timeout=60
    ).json()
    assert above["numberMatched"] == sum(1 for r in rates if r is not None and r > threshold)
    one = requests.get(f"{url}/33009-2015-2018", params={"f": "json"}, timeout=60).json()
    assert one["properties"]["nom"] == "Arcachon" and one["geometry"]["type"] == "MultiPolygon"
    assert one["properties"]["artificialisation_ha"] == pytest.approx(
        requests.post(
            f"{server}/processes/artificialisation/execution",
            timeout=120,
            json={"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2015, 2018]}},
        ).json()["territoires"][0]["artificialisation_ha"]
    )
