"""Land-cover segmentation of orthophotos into OCS GE couverture: a pure library (no HTTP).

``registry`` reads the models of ``config/models.yml``; ``checkpoint`` builds one with segmentation-models-pytorch
and loads local weights (IGN's FLAIR-INC files as published); ``bands`` assembles its input bands from BD ORTHO
files; ``engine`` runs it over a raster of any size into a Cloud Optimised GeoTIFF whose values ``legend`` explains.
"""

from .bands import BandStack, assemble
from .checkpoint import build_model, load_model, read_state_dict
from .device import select_device
from .engine import Predictor, SegmentationResult, segment, segment_files
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
    "Predictor",
    "RegistryError",
    "SegmentationResult",
    "Tile",
    "Tiling",
    "assemble",
    "build_model",
    "cs_values",
    "get_model",
    "legend",
    "load_model",
    "load_models",
    "models",
    "plan",
    "read_state_dict",
    "segment",
    "segment_files",
    "select_device",
]
