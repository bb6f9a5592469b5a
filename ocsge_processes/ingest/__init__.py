"""Read IGN OCS GE deliveries as published (7z, GPKG, SHP, GeoJSON) and normalise them to our layers."""

from .deliveries import Batch, PlannedLayer, plan_delivery, read_delivery

__all__ = ["Batch", "PlannedLayer", "plan_delivery", "read_delivery"]
