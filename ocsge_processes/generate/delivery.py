"""Generated layers written as IGN delivers OCS GE: one 7z per millésime and one for the DIFF, GeoPackages inside.

Names follow the Géoplateforme downloads (``OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01``, double underscore
included); GeoPackages have lowercase fields, a ``the_geom`` MultiPolygon column and a spatial index.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import py7zr
import pyogrio

from ..territory import crs_token
from .dataset import SOURCE, GeneratedOcsge

#: Folder of the data files inside a delivery, as in IGN's archives.
DATA_FOLDER = Path("OCS-GE", "1_DONNEES_LIVRAISON")
_LAYER_OPTIONS = {"GEOMETRY_NAME": "the_geom", "SPATIAL_INDEX": "YES", "DESCRIPTION": SOURCE}
#: LZMA2 preset of the archives: on these GeoPackages higher presets are 6 times slower for the same size.
_PRESET = 1


def departement_token(departement: str) -> str:
    """``D033``, ``D02A``, ``D971``: the département as OCS GE archive names spell it."""
    return f"D{departement:0>3}"


def millesime_name(generated: GeneratedOcsge, millesime: int) -> str:
    """Delivery name of one millésime, e.g. ``OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01``."""
    return f"OCS-GE_2-0__GPKG_{crs_token(generated.epsg)}_{departement_token(generated.departement)}_{millesime}-01-01"


def diff_name(generated: GeneratedOcsge, before: int, after: int) -> str:
    """Delivery name of the DIFF between ``before`` and ``after``, dated the 1st of January after the later one."""
    return (
        f"OCS-GE_2-0_DIFF-{before}-{after}_GPKG_{crs_token(generated.epsg)}"
        f"_{departement_token(generated.departement)}_{after + 1}-01-01"
    )


def write_delivery(generated: GeneratedOcsge, out_dir: str | Path, *, archive: bool = True) -> list[Path]:
    """Write every millésime and the DIFF of each consecutive pair under ``out_dir``; returns the 7z files (or
    folders, unarchived).

    ``archive=False`` leaves the delivery folders unpacked: LZMA over a million-polygon département takes minutes.
    Existing outputs of the same names are replaced.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = {
        millesime_name(generated, year): {
            "OCCUPATION_SOL.gpkg": ("occupation_sol", generated.occupation[year]),
            "ZONE_CONSTRUITE.gpkg": ("zone_construite", generated.zone_construite[year]),
        }
        for year in generated.millesimes
    }
    for (before, after), diff in generated.diffs.items():
        layers[diff_name(generated, before, after)] = {f"DIFF_{before}_{after}.gpkg": ("diff", diff)}
    return write_named(layers, out_dir, archive=archive)


def write_named(
    layers: dict[str, dict[str, tuple[str, gpd.GeoDataFrame]]], out_dir: Path, *, archive: bool
) -> list[Path]:
    """Write each delivery of ``layers`` (name -> file name -> (layer, frame)) under ``out_dir`` as a 7z, or as a
    folder when not ``archive``; returns what was written."""
    written = []
    for name, files in layers.items():
        if not archive:
            written.append(_write_folder(out_dir, name, files))
            continue
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".ocsge-") as staging:
            folder = _write_folder(Path(staging), name, files)
            target = out_dir / f"{name}.7z"
            target.unlink(missing_ok=True)
            with py7zr.SevenZipFile(target, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": _PRESET}]) as seven:
                seven.writeall(folder, arcname=name)
            written.append(target)
    return written


def _write_folder(root: Path, name: str, files: dict[str, tuple[str, gpd.GeoDataFrame]]) -> Path:
    folder = root / name
    (folder / DATA_FOLDER).mkdir(parents=True, exist_ok=True)
    for file_name, (layer, frame) in files.items():
        path = folder / DATA_FOLDER / file_name
        path.unlink(missing_ok=True)
        pyogrio.write_dataframe(
            frame,
            path,
            layer=layer,
            driver="GPKG",
            geometry_type="MultiPolygon",
            promote_to_multi=True,
            layer_options=_LAYER_OPTIONS,
        )
    return folder
