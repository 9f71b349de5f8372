"""Georeferencing of mission products as GeoTIFF tags, the one form ``Cube.geo`` holds.

The TIFF reader keeps a file's GeoTIFF tags (``{tag code: value}``) and the class-map writer
writes them back (``writers.geo_extratags``), so a product that describes its grid another way
(an EMIT or PRISMA geotransform and EPSG code, an ENVI ``map info``) is turned into the same
three tags: ModelPixelScale, ModelTiepoint (or ModelTransformation for a rotated grid) and a
GeoKeyDirectory naming the EPSG code. Outputs then carry the grid without a GDAL dependency.
"""

from __future__ import annotations

import math

PIXEL_SCALE, TIEPOINT, TRANSFORMATION, GEOKEYS = 33550, 33922, 34264, 34735
GEOGRAPHIC_EPSG = frozenset({4326, 4258, 4269, 4267, 4230, 4283, 4617})  # lat/lon datums


def geo_tags(transform: tuple[float, float, float, float, float, float],
             epsg: int | None) -> dict[int, list]:
    """GeoTIFF tags for a GDAL-order geotransform ``(x0, dx, rx, y0, ry, dy)`` (x0, y0 the
    outer corner of the top-left pixel) and an EPSG code (None: the grid without a CRS)."""
    x0, dx, rx, y0, ry, dy = (float(v) for v in transform)
    if not all(math.isfinite(v) for v in (x0, dx, rx, y0, ry, dy)) or dx == 0 or dy == 0:
        raise ValueError(f"not a usable geotransform: {transform}")
    tags: dict[int, list] = {}
    if rx == 0 and ry == 0:
        tags[PIXEL_SCALE] = [abs(dx), abs(dy), 0.0]
        tags[TIEPOINT] = [0.0, 0.0, 0.0, x0, y0, 0.0]
        if dx < 0 or dy > 0:  # a flipped grid is not what a pixel scale can say
            tags = {TRANSFORMATION: _matrix(x0, dx, rx, y0, ry, dy)}
    else:
        tags[TRANSFORMATION] = _matrix(x0, dx, rx, y0, ry, dy)
    if epsg is not None:
        geographic = int(epsg) in GEOGRAPHIC_EPSG
        tags[GEOKEYS] = [1, 1, 0, 3,
                         1024, 0, 1, 2 if geographic else 1,  # GTModelType: geographic/projected
                         1025, 0, 1, 1,  # GTRasterType: pixel is area
                         2048 if geographic else 3072, 0, 1, int(epsg)]
    return tags


def _matrix(x0: float, dx: float, rx: float, y0: float, ry: float, dy: float) -> list[float]:
    return [dx, rx, 0.0, x0, ry, dy, 0.0, y0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def envi_map_info(values) -> tuple[tuple[float, ...], int | None] | None:
    """(geotransform, EPSG code or None) from an ENVI ``map info`` list, as AVIRIS-NG and
    AVIRIS-3 write it (``{UTM, 1, 1, x, y, dx, dy, zone, North, WGS-84, units=Meters,
    rotation=a}``) or ``{Geographic Lat/Lon, 1, 1, lon, lat, dlon, dlat, WGS-84}``; None when
    it is absent or not of that form. The EPSG code is known for UTM and geographic WGS-84;
    another projection keeps the grid without a CRS."""
    if not isinstance(values, list) or len(values) < 7:
        return None
    fields = [str(v).strip() for v in values]
    try:
        ref_x, ref_y, x, y, dx, dy = (float(v) for v in fields[1:7])
    except ValueError:
        return None
    extras = {k.strip().lower(): v.strip() for k, _, v in
              (f.partition("=") for f in fields[7:] if "=" in f)}
    try:
        angle = math.radians(float(extras.get("rotation", 0.0)))
    except ValueError:
        return None
    # (ref_x, ref_y) is the 1-based pixel position of (x, y); the geotransform is the one
    # GDAL's ENVI driver derives (envidataset.cpp), so outputs line up with GDAL/QGIS
    c, s = math.cos(angle), math.sin(angle)
    transform = (x - (ref_x - 1.0) * dx, c * dx, -s * dx, y + (ref_y - 1.0) * dy, -s * dy,
                 -c * dy)
    name = fields[0].lower()
    datum = " ".join(f.lower() for f in fields[7:] if "=" not in f)
    epsg = None
    if name == "utm" and len(fields) >= 9 and "wgs-84" in datum:
        try:
            zone = int(float(fields[7]))
        except ValueError:
            zone = 0
        if 1 <= zone <= 60:
            epsg = (32600 if fields[8].lower().startswith("n") else 32700) + zone
    elif name.startswith("geographic") and "wgs-84" in datum:
        epsg = 4326
    return transform, epsg
