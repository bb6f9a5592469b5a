"""read_communes(): both real sources, selection by code or département, reprojection, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocsge_processes.errors import InvalidInputError, UnknownCodeError
from ocsge_processes.generate import departement_of_communes, read_communes


def test_reads_sybarval_geopackage_layer(sybarval_path: Path) -> None:
    communes = read_communes(sybarval_path)
    assert list(communes.columns) == ["code_insee", "nom", "geometry"]
    assert len(communes) == 17
    assert communes.crs.to_epsg() == 2154
    assert communes["code_insee"].is_monotonic_increasing
    assert "Arcachon" in set(communes["nom"])
    assert departement_of_communes(communes) == "33"


def test_reads_admin_express_geojson_reprojected_to_lambert93(admin_express_path: Path) -> None:
    communes = read_communes(admin_express_path, codes=["33063", "33009"])
    assert list(communes["code_insee"]) == ["33009", "33063"]
    assert list(communes["nom"]) == ["Arcachon", "Bordeaux"]
    assert communes.crs.to_epsg() == 2154
    assert communes.area.iloc[1] == pytest.approx(49.7e6, abs=0.05e6)  # Bordeaux: 49.7 km², to 0.1 km²


def test_departement_filter(admin_express_path: Path) -> None:
    assert len(read_communes(admin_express_path, departement="D033")) > 500
    with pytest.raises(InvalidInputError, match="no commune selected"):
        read_communes(admin_express_path, departement="34")


def test_unknown_codes_are_named(sybarval_path: Path) -> None:
    with pytest.raises(UnknownCodeError, match="33063"):  # Bordeaux is not in SYBARVAL
        read_communes(sybarval_path, codes=["33009", "33063"])


def test_missing_file_and_layer_without_codes(sybarval_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_communes(tmp_path / "nothing.gpkg")
    with pytest.raises(InvalidInputError, match="commune code field"):
        read_communes(sybarval_path, layer="enveloppe_urbaine_2018")
    with pytest.raises(InvalidInputError, match="not in"):
        read_communes(sybarval_path, layer="no_such_layer")
