"""io.geo.pixel_area_ha: a pixel's ground area from the georeferencing every reader keeps (ENVI
map info, EMIT GLT grid, PRISMA L2D corners, EnMAP GeoTIFF, class-map GeoTIFF and ENVI, the
ENVI class-map writer's map info), and no
ha where it would be wrong (latitude/longitude spans, Mercator, no CRS)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from napari_ssdgl.io import read_cube, read_labels, write_class_map
from napari_ssdgl.io.emit import read_emit, wkt_epsg
from napari_ssdgl.io.envi import read_header
from napari_ssdgl.io.geo import WGS84_A, WGS84_F, geo_tags, pixel_area_ha, tags_geotransform
from tests.io.products import write_aviris_ng, write_emit, write_enmap, write_prisma

pytestmark = pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")


def ellipsoid_cell_m2(lat_top: float, lat_bottom: float, dlon: float) -> float:
    """A lat/lon cell's area by integrating the WGS-84 metric M(φ) N(φ) cos φ (independent of
    the closed form the module uses)."""
    e2 = WGS84_F * (2 - WGS84_F)
    phi = np.radians(np.linspace(lat_bottom, lat_top, 20001))
    s2 = np.sin(phi) ** 2
    m = WGS84_A * (1 - e2) / (1 - e2 * s2) ** 1.5
    n = WGS84_A / np.sqrt(1 - e2 * s2)
    f = m * n * np.cos(phi)
    return float(np.sum((f[1:] + f[:-1]) / 2 * np.diff(phi)) * math.radians(dlon))


def test_every_reader_gives_the_pixel_area(tmp_path):
    aviris = read_cube(write_aviris_ng(tmp_path / "aviris")["hdr"])  # UTM 11N, 5 m
    assert pixel_area_ha(aviris.geo, 4) == (pytest.approx(25 / 10_000), None)
    write_prisma(tmp_path / "p.he5")
    prisma = read_cube(tmp_path / "p.he5")
    assert pixel_area_ha(prisma.geo, 4) == (pytest.approx(0.09), None)  # UTM 33N, 30 m
    enmap = read_cube(write_enmap(tmp_path / "enmap")["image"])
    assert pixel_area_ha(enmap.geo, 5) == (pytest.approx(0.09), None)  # UTM 32N, 30 m
    gt = write_emit(tmp_path / "emit.nc")["gt"]
    emit = read_emit(tmp_path / "emit.nc", orthorectify=True)[0]  # the GLT grid, EPSG:4326
    rows = emit.data.shape[1]
    ha, note = pixel_area_ha(emit.geo, rows)
    cells = [ellipsoid_cell_m2(gt[3] + r * gt[5], gt[3] + (r + 1) * gt[5], gt[1])
             for r in range(rows)]
    assert ha == pytest.approx(np.mean(cells) / 10_000, rel=1e-6)
    assert ha == pytest.approx(0.2932, abs=1e-4)  # ~60 m x ~49 m at 36.25 N
    assert "WGS-84" in note and "36.25" in note
    assert pixel_area_ha(read_emit(tmp_path / "emit.nc")[0].geo, 6) == (None, None)  # swath


def test_a_rotated_envi_grid_and_class_maps_keep_their_area(tmp_path):
    header = ("map info = { UTM , 1 , 1 , 500000 , 4100000 , 4 , 4 , 33 , North , WGS-84 , "
              "units=Meters , rotation=30 }\n")
    hdr = write_class_map(tmp_path / "map.hdr", np.ones((6, 5), np.uint8))
    hdr.write_text(hdr.read_text() + header)
    labels = read_labels(hdr)
    assert labels.metadata()["geo"] == labels.geo
    assert pixel_area_ha(labels.geo, 6) == (pytest.approx(16 / 10_000), None)
    tif = write_class_map(tmp_path / "map.tif", np.ones((6, 5), np.uint8),
                          geo=geo_tags((0.0, 10.0, 0.0, 0.0, 0.0, -10.0), 32633))
    assert pixel_area_ha(read_labels(tif).geo, 6) == (pytest.approx(0.01), None)


@pytest.mark.parametrize("transform, epsg", [
    ((500000.0, 30.0, 0.0, 4100000.0, 0.0, -30.0), 32633),  # PRISMA, EnMAP: UTM north
    ((300000.0, 2 * math.sqrt(3), 2.0, 7100000.0, 2.0, -2 * math.sqrt(3)), 32719),  # rotated
    ((-118.5, 0.0005, 0.0, 36.3, 0.0, -0.0005), 4326),  # EMIT's GLT grid
    ((10.0, 1.0, 0.0, 20.0, 0.0, -1.0), None),  # a grid without a CRS
])
def test_an_envi_class_map_keeps_the_grid_and_pixel_area(tmp_path, transform, epsg):
    geo = geo_tags(transform, epsg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing lost: no warning
        hdr = write_class_map(tmp_path / "map.hdr", np.ones((6, 5), np.uint8), geo=geo)
    back = read_labels(hdr).geo
    assert tags_geotransform(back) == pytest.approx(transform)
    assert pixel_area_ha(back, 6) == pixel_area_ha(geo, 6)
    wkt = read_header(hdr).get("coordinate system string")
    assert (wkt is None) == (epsg is None)  # GIS tools get the CRS as WKT where it is named
    assert epsg is None or wkt_epsg(",".join(wkt)) == epsg


@pytest.mark.parametrize("epsg", [32633, 32719, 32601, 32760, 4326])
def test_the_coordinate_system_string_is_the_crs_for_proj(tmp_path, epsg):
    """What GIS tools do with the header's WKT: PROJ (as GDAL and QGIS use it) reads it as the
    EPSG CRS it names, not a look-alike."""
    pyproj = pytest.importorskip("pyproj")
    transform = ((10.0, 0.001, 0.0, 50.0, 0.0, -0.001) if epsg == 4326
                 else (500000.0, 30.0, 0.0, 4100000.0, 0.0, -30.0))
    hdr = write_class_map(tmp_path / "map.hdr", np.ones((6, 5), np.uint8),
                          geo=geo_tags(transform, epsg))
    crs = pyproj.CRS.from_wkt(",".join(read_header(hdr)["coordinate system string"]))
    assert crs.to_epsg() == epsg
    assert crs.equals(pyproj.CRS.from_epsg(epsg), ignore_axis_order=True)


def test_what_an_envi_header_cannot_say_is_a_warning(tmp_path):
    laea = geo_tags((4321000.0, 30.0, 0.0, 3210000.0, 0.0, -30.0), 3035)
    with pytest.warns(UserWarning, match="keeps the grid but not its CRS .EPSG:3035"):
        hdr = write_class_map(tmp_path / "laea.hdr", np.ones((6, 5), np.uint8), geo=laea)
    back = read_labels(hdr).geo
    assert tags_geotransform(back) == pytest.approx(tags_geotransform(laea))
    assert pixel_area_ha(back, 6)[0] is None  # no CRS read back: pixels, never a wrong ha
    mirrored = geo_tags((0.0, -30.0, 0.0, 0.0, 0.0, -30.0), 32633)
    with pytest.warns(UserWarning, match="sheared or mirrored"):
        hdr = write_class_map(tmp_path / "mirror.hdr", np.ones((6, 5), np.uint8), geo=mirrored)
    assert read_labels(hdr).geo is None


@pytest.mark.parametrize("transform, epsg, rows, why", [
    ((10.0, 0.01, 0.0, 60.0, 0.0, -0.01), 4326, 300, "varies by up to 4.3 %"),
    ((10.0, 0.01, 0.001, 60.0, 0.001, -0.01), 4326, 3, "rotated"),
    ((0.0, 30.0, 0.0, 0.0, 0.0, -30.0), 3857, 3, "Mercator"),
    ((0.0, 30.0, 0.0, 0.0, 0.0, -30.0), None, 3, "names no coordinate reference system"),
    ((0.0, 1.0, 0.0, 90.5, 0.0, -1.0), 4326, 3, "poles"),
])
def test_no_ha_where_one_pixel_area_would_be_wrong(transform, epsg, rows, why):
    ha, note = pixel_area_ha(geo_tags(transform, epsg), rows)
    assert ha is None and why in note and note.startswith("areas in pixels only")


def test_geotransform_round_trips_through_the_tags():
    for t in ((5.0, 2.0, 0.0, 9.0, 0.0, -3.0), (5.0, 2.0, 0.5, 9.0, 0.5, -3.0),
              (5.0, -2.0, 0.0, 9.0, 0.0, 3.0)):  # north-up, rotated, flipped
        assert tags_geotransform(geo_tags(t, None)) == pytest.approx(t)
    assert tags_geotransform(None) is None
    assert tags_geotransform({33550: [1.0, 1.0, 0.0]}) is None  # no tie point
