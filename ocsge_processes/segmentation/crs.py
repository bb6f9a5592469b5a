"""Two rasters' CRSs compared by what they define, not by the EPSG code or the names they may or may not carry.

The real BD ORTHO patch names its CRS "EPSG:2154" without an authority code, with an "unnamed" datum and GDAL's
"unretrievable - using WGS84" ellipsoid; another tool writing the IRC of the same dalle may spell Lambert-93 in full.
A code-based comparison finds no code, a name-based one compares labels. Here two CRSs are the same when PROJ finds
them equivalent, or else when they are the same projection (method and every parameter) on ellipsoids less than
:data:`ELLIPSOID_TOLERANCE_M` apart, in the same unit: the same numbers then name the same place on the ground,
which is what stacking two rasters pixel by pixel needs.
"""

from __future__ import annotations

import math

import pyproj
from rasterio.crs import CRS

#: Largest difference between two ellipsoids' semi-axes still taken as the same: WGS84 and GRS80 differ by 0.1 mm
#: (the real patch's "using WGS84" against Lambert-93's GRS80), a thousandth of the 0.2 m pixel at most; any real
#: change of ellipsoid (Clarke 1880 for the NTF) is hundreds of metres.
ELLIPSOID_TOLERANCE_M = 1e-3
#: Relative tolerance on projection parameters (they are printed with 9 or more significant digits in WKT).
PARAMETER_TOLERANCE = 1e-9


def same_crs(first: CRS | None, second: CRS | None) -> bool:
    """Whether the two CRSs define the same projected coordinates (axis order aside: rasters are east, north)."""
    if first is None or second is None:
        return first is None and second is None
    one, other = pyproj.CRS.from_wkt(first.to_wkt()), pyproj.CRS.from_wkt(second.to_wkt())
    if one.equals(other, ignore_axis_order=True):
        return True
    return _same_definition(one, other)


def crs_name(crs: CRS | None) -> str:
    """``EPSG:n`` where the CRS has an authority code, else the start of its WKT (a name alone could mislead)."""
    if crs is None:
        return "none"
    code = pyproj.CRS.from_wkt(crs.to_wkt()).to_epsg(min_confidence=100)
    return f"EPSG:{code}" if code else crs.to_wkt()[:80]


def _same_definition(one: pyproj.CRS, other: pyproj.CRS) -> bool:
    first, second = _definition(one), _definition(other)
    if first is None or second is None:
        return False
    (method, params, axes, unit), (method2, params2, axes2, unit2) = first, second
    return (
        method == method2
        and unit == unit2
        and params.keys() == params2.keys()
        and all(math.isclose(params[k], params2[k], rel_tol=PARAMETER_TOLERANCE, abs_tol=1e-12) for k in params)
        and all(abs(a - b) <= ELLIPSOID_TOLERANCE_M for a, b in zip(axes, axes2, strict=True))
    )


def _definition(
    crs: pyproj.CRS,
) -> tuple[str, dict[str, float], tuple[float, float], str] | None:
    """(projection method, parameters by EPSG code or name, ellipsoid semi-axes, unit), or None when not projected."""
    operation, ellipsoid = crs.coordinate_operation, crs.ellipsoid
    if not crs.is_projected or operation is None or ellipsoid is None or not crs.axis_info:
        return None
    params = {param.code or param.name: float(param.value) for param in operation.params}
    method = operation.method_code or operation.method_name
    return method, params, (ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre), crs.axis_info[0].unit_name
