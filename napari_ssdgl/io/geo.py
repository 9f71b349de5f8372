"""Georeferencing of mission products as GeoTIFF tags, the one form ``Cube.geo`` holds.

The TIFF reader keeps a file's GeoTIFF tags (``{tag code: value}``) and the class-map writer
writes them back (``writers.geo_extratags``), so a product that describes its grid another way
(an EMIT or PRISMA geotransform and EPSG code, an ENVI ``map info``) is turned into the same
three tags: ModelPixelScale, ModelTiepoint (or ModelTransformation for a rotated grid) and a
GeoKeyDirectory naming the EPSG code. Outputs then carry the grid without a GDAL dependency:
GeoTIFF class maps as these tags, ENVI ones as ``map info`` (:func:`envi_map_fields`).

:func:`tags_geotransform` and :func:`pixel_area_ha` read those tags back, whichever reader
wrote them: the one place an assessment (CLI and dock) gets a pixel's ground area.
"""

from __future__ import annotations

import math

import numpy as np

PIXEL_SCALE, TIEPOINT, TRANSFORMATION, GEOKEYS = 33550, 33922, 34264, 34735
GEOGRAPHIC_EPSG = frozenset({4326, 4258, 4269, 4267, 4230, 4283, 4617})  # lat/lon datums
# projected in metres but not equal-area: a Mercator pixel's ground area shrinks with cos²(lat)
MERCATOR_EPSG = frozenset({3857, 3395, 3785, 900913})
UNIT_METRES = {9001: 1.0, 9002: 0.3048, 9003: 1200 / 3937}  # EPSG metre, foot, US survey foot
DEGREE = 9102  # EPSG angular unit
WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563
# a geographic grid gets one pixel area only while every row's is within this of the mean
GEOGRAPHIC_AREA_TOLERANCE = 0.01
# EPSG:4326 as WKT1, for the ENVI header's 'coordinate system string'
WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
             'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
             'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
             'AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]')


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


def envi_map_fields(geo: dict | None) -> tuple[dict[str, object], str | None]:
    """The ENVI header fields that say the grid of GeoTIFF tags (the inverse of
    :func:`envi_map_info`, so a written class map reads back on the same grid), and a note of
    what they cannot say (None: nothing lost).

    ``map info`` holds the grid (a rotation too); UTM and geographic WGS-84, the CRSs mission
    products use, are named in it and get a ``coordinate system string`` (WKT) for GIS tools.
    Another CRS cannot be spelled without a projection database: the grid is kept as
    ``Arbitrary`` and the note says the CRS is not. A sheared or mirrored grid gets no field.
    """
    t = tags_geotransform(geo)
    if t is None:
        return {}, None
    x0, a, b, y0, d, e = t
    dx, dy = math.hypot(a, b), math.hypot(d, e)
    c, s = a / dx, -b / dx  # map info's grid: (x0, c·dx, -s·dx, y0, -s·dy, -c·dy)
    if not math.isclose(d, -s * dy, abs_tol=1e-9 * dy) or not math.isclose(
            e, -c * dy, abs_tol=1e-9 * dy):
        return {}, ("the grid is sheared or mirrored, which ENVI 'map info' cannot say: the "
                    "ENVI class map is not georeferenced (write a GeoTIFF to keep the grid)")
    grid = [1, 1, x0, y0, dx, dy]
    angle = math.degrees(math.atan2(s, c))
    rotation = [f"rotation={angle!r}"] if angle else []
    keys = geokeys({int(k): v for k, v in geo.items()}.get(GEOKEYS))
    model = keys.get(1024)  # GTModelTypeGeoKey: 1 projected, 2 geographic
    epsg = keys.get(3072 if model == 1 else 2048) if model in (1, 2) else None
    if epsg is not None and (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        zone, north = epsg % 100, epsg < 32700
        info = ["UTM", *grid, zone, "North" if north else "South", "WGS-84", "units=Meters",
                *rotation]
        wkt = (f'PROJCS["WGS 84 / UTM zone {zone}{"N" if north else "S"}",{WGS84_WKT},'
               'PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],'
               f'PARAMETER["central_meridian",{6 * zone - 183}],PARAMETER["scale_factor",0.9996],'
               'PARAMETER["false_easting",500000],'
               f'PARAMETER["false_northing",{0 if north else 10000000}],'
               f'UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","{epsg}"]]')
    elif epsg == 4326:
        info, wkt = ["Geographic Lat/Lon", *grid, "WGS-84", "units=Degrees", *rotation], (
            WGS84_WKT)
    else:
        info, wkt = ["Arbitrary", *grid, *rotation], None
    fields: dict[str, object] = {"map info": info}
    if wkt is not None:  # braces written here: the header writer would split a list on commas
        fields["coordinate system string"] = "{" + wkt + "}"
    crs = f"EPSG:{epsg}" if epsg not in (None, 32767) else "a user-defined one"
    note = None if wkt is not None or model not in (1, 2) else (
        f"the ENVI header keeps the grid but not its CRS ({crs}; only UTM and geographic "
        "WGS-84 are named): write a GeoTIFF to keep the CRS and areas in ha")
    return fields, note


def geokeys(directory) -> dict[int, int]:
    """GeoKey id -> value of a GeoKeyDirectory tag (only values stored in the tag itself)."""
    try:
        values = [int(v) for v in (directory or [])]
    except (TypeError, ValueError):
        return {}
    keys = {}
    for i in range(4, len(values) - 3, 4):
        key, location, _count, value = values[i:i + 4]
        if location == 0:
            keys[key] = value
    return keys


def tags_geotransform(geo: dict | None) -> tuple[float, ...] | None:
    """The GDAL-order geotransform ``(x0, dx, rx, y0, ry, dy)`` of GeoTIFF tags (the inverse
    of :func:`geo_tags`: a ModelTransformation, or a pixel scale and tie point), or None."""
    if not geo:
        return None
    geo = {int(k): v for k, v in geo.items()}
    try:
        if geo.get(TRANSFORMATION):
            m = [float(v) for v in geo[TRANSFORMATION]]
            t = (m[3], m[0], m[1], m[7], m[4], m[5])
        else:
            scale, tie = geo.get(PIXEL_SCALE), geo.get(TIEPOINT)
            if not scale or not tie or len(scale) < 2 or len(tie) < 6:
                return None
            dx, dy = float(scale[0]), float(scale[1])
            i, j, x, y = (float(v) for v in (tie[0], tie[1], tie[3], tie[4]))
            t = (x - i * dx, dx, 0.0, y + j * dy, 0.0, -dy)
    except (TypeError, ValueError, IndexError):
        return None
    return t if all(math.isfinite(v) for v in t) else None


def pixel_area_ha(geo: dict | None, rows: int) -> tuple[float | None, str | None]:
    """(hectares per pixel, note) of a grid of ``rows`` rows described by GeoTIFF tags.

    Projected grids in a known linear unit: the pixel's area (the transform's determinant). A
    north-up geographic grid (degrees): each row's area on the WGS-84 ellipsoid, their mean
    when all are within :data:`GEOGRAPHIC_AREA_TOLERANCE` of it (the note says so). Anything
    else (no CRS, an unknown unit, a rotated geographic grid, a wider span of latitude,
    Mercator) gives None and a note saying why, so areas stay in pixels, never a wrong ha.
    """
    t = tags_geotransform(geo)
    if t is None:
        return None, None
    x0, dx, rx, y0, ry, dy = t
    keys = geokeys({int(k): v for k, v in geo.items()}.get(GEOKEYS))
    model = keys.get(1024)  # GTModelTypeGeoKey
    if model == 1:  # projected
        epsg = keys.get(3072)
        metres = UNIT_METRES.get(keys.get(3076, 9001))  # ProjLinearUnitsGeoKey
        if epsg in MERCATOR_EPSG:
            return None, (f"areas in pixels only: the map's CRS (EPSG:{epsg}) is Mercator, "
                          "whose pixels differ in ground area")
        if metres is None:
            return None, (f"areas in pixels only: the map's linear unit (EPSG:{keys[3076]}) "
                          "is not one this knows")
        return abs(dx * dy - rx * ry) * metres ** 2 / 10_000, None
    if model == 2:  # geographic
        if keys.get(2054, DEGREE) != DEGREE:  # GeogAngularUnitsGeoKey
            return None, "areas in pixels only: the map's angular unit is not degrees"
        if rx or ry:
            return None, "areas in pixels only: a rotated latitude/longitude grid"
        lat = y0 + dy * np.arange(max(int(rows), 1) + 1)
        if np.abs(lat).max() > 90:
            return None, "areas in pixels only: the grid's latitudes pass the poles"
        per_row = _band_area_m2(lat[:-1], lat[1:]) * math.radians(abs(dx)) / 10_000
        mean = float(per_row.mean())
        spread = float(np.abs(per_row / mean - 1).max())
        span = f"latitudes {lat.min():.3f}° to {lat.max():.3f}°"
        if spread > GEOGRAPHIC_AREA_TOLERANCE:
            return None, (f"areas in pixels only: on this latitude/longitude grid ({span}) a "
                          f"pixel's ground area varies by up to {100 * spread:.1f} % from the "
                          "mean; reproject the map to an equal-area or UTM grid for ha")
        return mean, (f"ha from the mean pixel area on the WGS-84 ellipsoid over {span} "
                      f"(a latitude/longitude grid; every row within {100 * spread:.2f} %)")
    return None, ("areas in pixels only: the map's georeferencing names no coordinate "
                  "reference system, so its units are not known")


def _band_area_m2(lat1: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Area in m² per radian of longitude between two latitudes (degrees) on WGS-84: the
    difference of b²/2 · (sinφ/(1 - e² sin²φ) + atanh(e sinφ)/e)."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)
    b2 = (WGS84_A * (1 - WGS84_F)) ** 2

    def q(lat):
        s = np.sin(np.radians(lat))
        return s / (1 - e2 * s * s) + np.arctanh(e * s) / e

    return np.abs(q(lat2) - q(lat1)) * b2 / 2
