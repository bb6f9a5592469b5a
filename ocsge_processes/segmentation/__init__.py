"""Land-cover segmentation of orthophotos into OCS GE couverture: a pure library (no HTTP).

``registry`` reads the models of ``config/models.yml``; ``checkpoint`` builds one with segmentation-models-pytorch
and loads local weights (IGN's FLAIR-INC files as published, FLAIR-HUB's through ``flairhub``); ``bands`` assembles
its input bands from BD ORTHO files; ``engine`` runs it over a raster of any size into a Cloud Optimised GeoTIFF
whose values ``legend`` explains. ``dalles`` finds BD ORTHO dalles as IGN delivers them, ``mosaic`` lays them on one
grid over a territory, ``blocks`` cuts it into units of work whose classes are those of the whole mosaic
(``windows`` keeps every window on the network's grid); ``crs`` compares CRSs by definition.

Only the light modules are re-exported here. ``engine``, ``checkpoint``, ``flairhub``, ``device`` and ``training``
import torch (seconds and about a gigabyte): import them by their own name, where a segmentation actually runs, so
that listing the processes or writing the configuration never loads torch (tests/server/test_startup.py checks it).
"""

from .bands import BandStack, assemble
from .legend import OUTPUTS, Legend, cs_values, legend
from .registry import (
    ModelClass,
    ModelSpec,
    RegistryError,
    get_model,
    load_models,
    models,
)
from .windows import Tile, Tiling, plan

__all__ = [
    "OUTPUTS",
    "BandStack",
    "Legend",
    "ModelClass",
    "ModelSpec",
    "RegistryError",
    "Tile",
    "Tiling",
    "assemble",
    "cs_values",
    "get_model",
    "legend",
    "load_models",
    "models",
    "plan",
]
