"""workflows.assess: the points file, georeferencing from GeoTIFF tags, report exports."""

import numpy as np
import pytest

from napari_ssdgl.io.geo import geo_tags, pixel_area_ha
from napari_ssdgl.workflows.assess import (
    Points,
    assess_points,
    assess_raster,
    geometry_from_tags,
    read_points,
    write_points,
    write_report,
)

TIE = [0.0, 0.0, 0.0, 1000.0, 2000.0, 0.0]


def geo(model: int, unit: int | None = None) -> dict:
    keys = [1, 1, 0, 1 + (unit is not None), 1024, 0, 1, model]
    if unit is not None:
        keys += [3076, 0, 1, unit]
    return {33550: [20.0, 10.0, 0.0], 33922: TIE, 34735: keys}


def test_geometry_units():
    assert pixel_area_ha(geo(1), 5) == (pytest.approx(0.02), None)  # metres by default
    feet = pixel_area_ha(geo(1, 9002), 5)[0]
    assert feet == pytest.approx(20 * 10 * 0.3048 ** 2 / 10_000)
    assert pixel_area_ha(geo(2), 5)[0] is None  # 20 degrees from y = 2000
    ha, note = pixel_area_ha(geo(1, 9102), 5)
    assert ha is None and "linear unit" in note
    assert geometry_from_tags({33550: [1, 1, 0]}) is None
    g = geometry_from_tags(geo(1))
    assert g.centres(np.array([0]), np.array([2])) == (pytest.approx([1050.0]),
                                                       pytest.approx([1995.0]))


def test_centres_of_a_rotated_grid():
    g = geometry_from_tags(geo_tags((100.0, 3.0, 4.0, 200.0, 4.0, -3.0), 32633))
    x, y = g.centres(np.array([1]), np.array([0]))  # (col, row) = (0.5, 1.5)
    assert (x[0], y[0]) == (pytest.approx(100 + 1.5 + 6), pytest.approx(200 + 2 - 4.5))


def test_points_round_trip_and_bad_files(tmp_path):
    pts = Points([0, 3], [1, 2], [1, 2], [0, 2])
    path = write_points(tmp_path / "p.csv", pts, geometry=geometry_from_tags(geo(1)))
    assert path.read_text().splitlines()[:2] == ["row,col,map_class,reference,x,y",
                                                 "0,1,1,,1030.0,1995.0"]
    back = read_points(path)
    assert back.reference.tolist() == [0, 2] and back.rows.tolist() == [0, 3]
    with pytest.raises(FileExistsError):
        write_points(path, pts)
    assert not list(tmp_path.glob("*.partial-*"))
    (tmp_path / "bad.csv").write_text("row,col,map_class,reference\n1,2,x,1\n")
    with pytest.raises(ValueError, match="line 2"):
        read_points(tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text("row,col,map_class\n")
    with pytest.raises(ValueError, match="no points"):
        read_points(tmp_path / "empty.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match="not a text"):
        read_points(tmp_path / "bin.csv")


def test_assess_checks_points_and_counts_what_it_leaves_out(tmp_path):
    cmap = np.array([[1, 1, 2], [1, 2, 2], [0, 2, 1]])
    train = np.zeros_like(cmap, bool)
    train[0, 0] = True
    pts = Points([0, 0, 1, 1, 2], [0, 1, 0, 1, 1], [1, 1, 1, 2, 2], [1, 1, 2, 2, 0])
    result = assess_points(cmap, pts, exclude=train)
    assert result.excluded_training_points == 1 and result.unlabelled_points == 1
    assert result.excluded_training_pixels == 1 and result.used.tolist() == [
        False, True, True, True, False]
    assert result.report.population_pixels == 7  # 8 mapped pixels, one training pixel
    with pytest.raises(ValueError, match="outside the 3 x 3 map"):
        assess_points(cmap, Points([5], [0], [1], [1]))
    with pytest.raises(ValueError, match="not on pixels of their map_class"):
        assess_points(cmap, Points([0], [0], [2], [1]))
    with pytest.raises(ValueError, match="outside the population"):
        assess_points(cmap, Points([2], [0], [0], [1]))
    with pytest.raises(ValueError, match="reference raster is"):
        assess_raster(cmap, np.ones((2, 2), int))
    out = write_report(tmp_path / "r.csv", result)
    assert out.read_text().startswith("class,name,points")
    with pytest.raises(ValueError, match="a report is"):
        write_report(tmp_path / "r.txt", result)
