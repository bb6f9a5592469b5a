"""Small IGN-like deliveries written on the fly into ``tmp_path`` (GPKG, SHP, GeoJSON, 7z); nothing is stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import py7zr
import pyogrio
import pytest
import shapely
from shapely.geometry.base import BaseGeometry

#: Lower-left corners of small squares inside each territory, in its own CRS.
ORIGINS = {2154: (400_000.0, 6_400_000.0), 2975: (340_000.0, 7_660_000.0), 5490: (650_000.0, 1_790_000.0)}

WriteLayer = Callable[..., Path]
Make7z = Callable[[Path, dict[str, Path]], Path]


def _squares(count: int, epsg: int = 2154, size: float = 100.0) -> list[BaseGeometry]:
    x, y = ORIGINS[epsg]
    return [shapely.box(x + i * 2 * size, y, x + i * 2 * size + size, y + size) for i in range(count)]


@pytest.fixture
def squares() -> Callable[..., list[BaseGeometry]]:
    """``squares(count, epsg=2154, size=100.0)``: disjoint squares of ``size`` metres inside the territory."""
    return _squares


@pytest.fixture
def write_layer() -> WriteLayer:
    """Write rows and geometries as one layer of a GPKG, SHP or GeoJSON file; returns the file path."""

    def write(
        path: Path,
        rows: dict[str, Sequence[object]],
        geometries: Sequence[BaseGeometry | None],
        *,
        layer: str | None = None,
        crs: str | int | None = 2154,
        **options: object,
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geometries), crs=crs)
        pyogrio.write_dataframe(frame, path, layer=layer, **options)
        return path

    return write


@pytest.fixture
def make_7z() -> Make7z:
    """Pack files into a 7z archive under the given member names (a shapefile's sidecars follow its .shp)."""

    def make(archive: Path, members: dict[str, Path]) -> Path:
        with py7zr.SevenZipFile(archive, "w") as packed:
            for name, file in members.items():
                siblings = sorted(file.parent.glob(f"{file.stem}.*")) if file.suffix == ".shp" else [file]
                for sibling in siblings:
                    packed.write(sibling, str(Path(name).with_suffix(sibling.suffix)))
        return archive

    return make
