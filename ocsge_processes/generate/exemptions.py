"""A generated "OCS GE Artificialisation avec exemptions" sample (not IGN data) beside a generated delivery.

IGN decides ``artif`` with the decree's thresholds; here the decree's thresholds run on the generated
OCCUPATION_SOL. The claims are ours: every vegetated polygon used for services (lawns and wooded parks, CS2 × US3)
claims the public park exemption, and the rules of ``config/artificialisation/exemptions.csv`` decide where it
applies. No generated code stands for a photovoltaic park, so none claims that one. Every row's ``source`` says the
sample is generated, and the folder is named like IGN's product plus ``-EXEMPTIONS`` (the WMTS layer family's
name; the download's own name is UNCONFIRMED).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from ..artificialisation import apply_thresholds, artificial_flags
from ..territory import crs_token
from .dataset import SOURCE, GeneratedOcsge
from .delivery import departement_token, write_named

#: The exemption the generated parks claim.
PARK = "parc_jardin_public"


def exemptions_name(generated: GeneratedOcsge, millesime: int) -> str:
    """Folder name of one millésime's sample, e.g. ``OCS-GE_2-0_ARTIFICIALISATION-EXEMPTIONS_GPKG_LAMB93_D033_...``."""
    token = f"{crs_token(generated.epsg)}_{departement_token(generated.departement)}_{millesime}-01-01"
    return f"OCS-GE_2-0_ARTIFICIALISATION-EXEMPTIONS_GPKG_{token}"


def exemption_layer(occupation: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The exemption layer of one generated millésime: its polygons, the decree's ``artif``, ``crit_seuil`` where
    the thresholds and not the matrix decided, and the park claims."""
    decided = apply_thresholds(occupation)["artif"].fillna(False).to_numpy(dtype=bool)
    matrix = artificial_flags(occupation["code_cs"], occupation["code_us"]).fillna(False).to_numpy(dtype=bool)
    park = occupation["code_cs"].str.startswith("CS2").to_numpy(dtype=bool) & (occupation["code_us"] == "US3")
    claims = np.full(len(occupation), None, dtype=object)
    claims[park] = PARK
    # IGN's delivery has no département column: ingest takes it from the folder name, as for ARTIF.
    return gpd.GeoDataFrame(
        {
            "id": occupation["id"].to_numpy(),
            "code_cs": occupation["code_cs"].to_numpy(),
            "code_us": occupation["code_us"].to_numpy(),
            "millesime": occupation["millesime"].to_numpy(),
            "artif": np.where(decided, "artif", "non artif"),
            "crit_seuil": decided != matrix,
            "exemption": claims,
            "source": np.full(len(occupation), SOURCE, dtype=object),
        },
        geometry=occupation.geometry.to_numpy(),
        crs=occupation.crs,
    )


def write_exemptions(generated: GeneratedOcsge, out_dir: Path, *, archive: bool = True) -> list[Path]:
    """One exemption sample per millésime under ``out_dir`` (7z, or folders); returns what was written."""
    layers = {
        exemptions_name(generated, year): {
            "ARTIF_EXEMPTIONS.gpkg": (
                f"artif_exemptions_{year}_{generated.departement}",
                exemption_layer(generated.occupation[year]),
            )
        }
        for year in generated.millesimes
    }
    return write_named(layers, Path(out_dir), archive=archive)
