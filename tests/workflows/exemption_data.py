"""Hand-built IGN-named deliveries (not IGN data) with "OCS GE Artificialisation avec exemptions", for `ocsge ingest`.

Commune 33001 is a 1 000 m × 1 000 m square cut into vertical strips, so a strip ``w`` metres wide covers ``w / 10``
ha exactly; commune 40001 has OCCUPATION_SOL and ARTIF but no exemption layer. How IGN spells the exemption field is
UNCONFIRMED: these files use the names of our collection (``exemption``), in folders named as IGN names the
ARTIFICIALISATION product plus ``-EXEMPTIONS`` (the WMTS layer family's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely

SOURCE = "hand-built test data (not IGN data)"
HEIGHT_M = 1000
YEARS = (2018, 2021)
PV, PARK = "photovoltaique", "parc_jardin_public"


@dataclass(frozen=True)
class Strip:
    width_m: int
    code_cs: str
    code_us: str
    #: IGN's decision in ARTIF.
    artif: str
    exemption: str | None = None


BUILDING = Strip(100, "CS1.1.1.1", "US5", "artif")
PV_PARK = Strip(50, "CS2.2.1", "US2", "artif", PV)
PUBLIC_PARK = Strip(40, "CS2.2.1", "US3", "artif", PARK)
#: A garden IGN calls non-artificialised (its thresholds), where the decree's matrix says artificial: the gap.
GARDEN = Strip(30, "CS2.2.1", "US5", "non artif")
NEW_PV_PARK = Strip(60, "CS2.2.1", "US2", "artif", PV)


def forest(width_m: int) -> Strip:
    return Strip(width_m, "CS2.1.1.1", "US1.1", "non artif")


#: West to east, per millésime, per commune: (x0 of the commune, its strips).
COMMUNES: dict[str, tuple[str, float, dict[int, list[Strip]]]] = {
    "33001": (
        "33",
        400_000,
        {
            2018: [BUILDING, PV_PARK, PUBLIC_PARK, GARDEN, forest(780)],
            2021: [BUILDING, PV_PARK, PUBLIC_PARK, GARDEN, NEW_PV_PARK, forest(720)],
        },
    ),
    "40001": ("40", 420_000, {year: [BUILDING, forest(900)] for year in YEARS}),
}
Y0 = 6_400_000


def _strips(x0: float, strips: list[Strip]) -> list[tuple[shapely.MultiPolygon, Strip]]:
    found, x = [], x0
    for strip in strips:
        found.append((shapely.MultiPolygon([shapely.box(x, Y0, x + strip.width_m, Y0 + HEIGHT_M)]), strip))
        x += strip.width_m
    return found


def write_deliveries(out: Path) -> list[Path]:
    """The commune contours, then per département and millésime OCCUPATION_SOL, ARTIF and (33 only) the exemption
    layer, each in a folder named as IGN names its delivery; returns the paths to ingest."""
    paths = [out / "communes_exemptions.gpkg"]
    gpd.GeoDataFrame(
        {"code_insee": list(COMMUNES), "nom": [f"Commune {code}" for code in COMMUNES]},
        geometry=[shapely.box(x0, Y0, x0 + HEIGHT_M, Y0 + HEIGHT_M) for _, x0, _ in COMMUNES.values()],
        crs=2154,
    ).to_file(paths[0], layer="communes")
    for code, (departement, x0, millesimes) in COMMUNES.items():
        for year, strips in millesimes.items():
            rows = _strips(x0, strips)
            ids = [f"{code}_{year}_{i}" for i in range(len(rows))]
            common = {
                "id": ids,
                "code_cs": [s.code_cs for _, s in rows],
                "code_us": [s.code_us for _, s in rows],
                "millesime": [year] * len(rows),
                "source": [SOURCE] * len(rows),
            }
            geometry = [g for g, _ in rows]
            stamp = f"D0{departement}_{year}-01-01"
            occupation = out / f"OCS-GE_2-0__GPKG_LAMB93_{stamp}"
            artif = out / f"OCS-GE_2-0_ARTIFICIALISATION_GPKG_LAMB93_{stamp}"
            folders = [occupation, artif]
            occupation.mkdir()
            gpd.GeoDataFrame(common, geometry=geometry, crs=2154).to_file(
                occupation / "OCCUPATION_SOL.gpkg", layer="occupation_sol"
            )
            artif.mkdir()
            decided = {**common, "artif": [s.artif for _, s in rows], "crit_seuil": [False] * len(rows)}
            gpd.GeoDataFrame(decided, geometry=geometry, crs=2154).to_file(
                artif / "ARTIF.gpkg", layer=f"artif_{year}_{departement}"
            )
            if departement == "33":
                exempt = out / f"OCS-GE_2-0_ARTIFICIALISATION-EXEMPTIONS_GPKG_LAMB93_{stamp}"
                exempt.mkdir()
                claims = {**decided, "exemption": [s.exemption for _, s in rows]}
                gpd.GeoDataFrame(claims, geometry=geometry, crs=2154).to_file(
                    exempt / "ARTIF_EXEMPTIONS.gpkg", layer=f"artif_exemptions_{year}_{departement}"
                )
                folders.append(exempt)
            paths.extend(folders)
    paths.append(_artif_diff(out))
    return paths


def _artif_diff(out: Path) -> Path:
    """IGN's ARTIF DIFF of 33 between 2018 and 2021: the new PV park (60 m at x0 + 220) was forest."""
    folder = out / "OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D033_2025-09-16"
    folder.mkdir()
    x = COMMUNES["33001"][1] + 220
    gpd.GeoDataFrame(
        {
            "cs_2018": ["CS2.1.1.1"],
            "cs_2021": [NEW_PV_PARK.code_cs],
            "us_2018": ["US1.1"],
            "us_2021": [NEW_PV_PARK.code_us],
            "artif_2018": ["non artif"],
            "artif_2021": ["artif"],
            "artificialisation": [1],
        },
        geometry=[shapely.MultiPolygon([shapely.box(x, Y0, x + NEW_PV_PARK.width_m, Y0 + HEIGHT_M)])],
        crs=2154,
    ).to_file(folder / "zan_evol_2018_2021_33.gpkg", layer="zan_evol_2018_2021_33")
    return folder
