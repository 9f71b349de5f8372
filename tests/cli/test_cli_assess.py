"""`napari-ssdgl assess`: propose a stratified sample (a CSV), then report accuracy and areas with
confidence intervals from the labelled CSV or a reference raster."""

import csv
import json

import numpy as np
import pytest

from napari_ssdgl.analysis.accuracy_area import stratified_estimates
from napari_ssdgl.cli import main
from napari_ssdgl.io import write_class_map

# a 30 x 40 map of three classes; the "truth" differs from it in a stripe
MAP = np.ones((30, 40), np.uint8)
MAP[:, 20:] = 2
MAP[20:, :10] = 3
TRUTH = MAP.copy()
TRUTH[:5, 15:25] = 3
TRAIN = np.zeros_like(MAP)
TRAIN[::4, ::4] = MAP[::4, ::4]
# projected (GTModelType 1), metres (ProjLinearUnits 9001), 30 m pixels
GEO = {33550: [30.0, 30.0, 0.0], 33922: [0.0, 0.0, 0.0, 500000.0, 4100000.0, 0.0],
       34735: [1, 1, 0, 2, 1024, 0, 1, 1, 3076, 0, 1, 9001]}


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "map.npy", MAP)
    np.save(tmp_path / "truth.npy", TRUTH)
    np.save(tmp_path / "train.npy", TRAIN)
    write_class_map(tmp_path / "map.tif", MAP, geo=GEO)
    return tmp_path


def run_json(capsys, *argv) -> dict:
    assert main(["assess", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_propose_writes_a_seeded_sample_off_the_training_pixels(files, capsys):
    out = files / "points.csv"
    info = run_json(capsys, files / "map.npy", "--propose", 60, "--min-per-class", 25,
                    "--exclude", files / "train.npy", "--seed", 3, "--out", out)
    rows = read_csv(out)
    assert list(rows[0]) == ["row", "col", "map_class", "reference"]
    assert len(rows) == info["points"] == sum(info["allocation"].values())
    assert info["excluded_training_pixels"] == int((TRAIN > 0).sum())
    # class 3 (200 px) gets the floor of 25, the other 35 go 1:2 by area (~600 : ~400 px)
    counts = {c: sum(int(r["map_class"]) == c for r in rows) for c in (1, 2, 3)}
    assert counts == {int(k): v for k, v in info["allocation"].items()}
    assert counts[3] == 25
    for r in rows:
        assert TRAIN[int(r["row"]), int(r["col"])] == 0
        assert MAP[int(r["row"]), int(r["col"])] == int(r["map_class"]) and r["reference"] == ""
    first = out.read_bytes()
    assert main(["assess", str(files / "map.npy"), "--propose", "60", "--min-per-class", "25",
                 "--exclude", str(files / "train.npy"), "--seed", "3", "--out", str(out),
                 "--overwrite", "--quiet"]) == 0
    assert out.read_bytes() == first  # same seed, same points
    # an existing output is refused, before anything is read, and left as it was
    assert main(["assess", str(files / "map.npy"), "--propose", "10", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == first


def test_report_from_the_labelled_csv(files, capsys):
    out = files / "points.csv"
    run_json(capsys, files / "map.npy", "--target-se", 0.05, "--out", out)
    rows = read_csv(out)
    for r in rows:  # the analyst's labels: the truth, one point left unlabelled
        r["reference"] = str(TRUTH[int(r["row"]), int(r["col"])])
    rows[0]["reference"] = ""
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    train = np.zeros_like(MAP)
    train[int(rows[1]["row"]), int(rows[1]["col"])] = 1  # one point falls on a training pixel
    np.save(files / "train1.npy", train)
    report = run_json(capsys, files / "map.npy", "--reference", out, "--exclude",
                      files / "train1.npy", "--out", files / "r.json", "--out", files / "r.csv",
                      "--out", files / "r.png")
    assert report["unlabelled_points"] == 1 and report["excluded_training_points"] == 1
    assert report["points_used"] == len(rows) - 2
    assert any("training pixels excluded" in n for n in report["notes"])
    used = rows[2:]
    sizes = {c: int(((MAP == c) & (train == 0)).sum()) for c in (1, 2, 3)}
    pts = [int(r["map_class"]) for r in used]
    expected = stratified_estimates(pts, pts, [int(r["reference"]) for r in used], sizes)
    assert report["oa"] == pytest.approx(expected.oa)
    assert report["oa_se"] == pytest.approx(expected.oa_se)
    assert report["classes"][2]["area_pixels"] == pytest.approx(
        expected.classes[2].area_pixels)
    assert report["population_pixels"] == MAP.size - 1
    assert json.loads((files / "r.json").read_text())["oa"] == pytest.approx(expected.oa)
    table = read_csv(files / "r.csv")
    assert [int(r["class"]) for r in table if not r["class"].startswith("#")][:3] == [1, 2, 3]
    assert (files / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(files.glob("*.partial-*"))


def test_report_from_a_reference_raster_and_georeferencing(files, capsys):
    truth = TRUTH.copy()
    truth[25:, 30:] = 0  # the reference labels only part of the scene
    np.save(files / "truth0.npy", truth)
    report = run_json(capsys, files / "map.tif", "--reference", files / "truth0.npy",
                      "--propose", 120, "--min-per-class", 20, "--seed", 1)
    assert report["population"] == "mapped pixels the reference raster labels"
    assert report["population_pixels"] == int((truth > 0).sum())
    assert report["unlabelled_points"] == 0
    assert report["pixel_area_ha"] == pytest.approx(0.09)  # 30 m x 30 m
    three = report["classes"][2]
    assert three["area_ha"] == pytest.approx(three["area_pixels"] * 0.09)
    assert three["area_ha_low"] <= three["area_ha"] <= three["area_ha_high"]
    # the proposal of a GeoTIFF map has the pixel centres in map units
    run_json(capsys, files / "map.tif", "--propose", 30, "--out", files / "geo.csv")
    row = read_csv(files / "geo.csv")[0]
    assert float(row["x"]) == pytest.approx(500000 + (int(row["col"]) + 0.5) * 30)
    assert float(row["y"]) == pytest.approx(4100000 - (int(row["row"]) + 0.5) * 30)
    # --pixel-size overrides: 10 m pixels are 0.01 ha
    r10 = run_json(capsys, files / "map.npy", "--reference", files / "truth.npy", "--propose",
                   60, "--pixel-size", 10)
    assert r10["pixel_area_ha"] == pytest.approx(0.01)


def test_anticipated_user_accuracies_per_class_size_the_sample(files, capsys):
    from napari_ssdgl.analysis.sample_design import sample_size

    sizes = {c: int((MAP == c).sum()) for c in (1, 2, 3)}
    info = run_json(capsys, files / "map.npy", "--target-se", 0.05, "--min-per-class", 0,
                    "--anticipated-ua", "1:0.6,3:0.99", "--out", files / "p.csv")
    assert info["anticipated_ua"] == {"1": 0.6, "3": 0.99}  # class 2: the default 0.85
    assert info["requested"] == sample_size(sizes, 0.05, {1: 0.6, 2: 0.85, 3: 0.99})
    one = run_json(capsys, files / "map.npy", "--target-se", 0.05, "--min-per-class", 0,
                   "--anticipated-ua", 0.99, "--out", files / "q.csv")
    assert one["anticipated_ua"] == 0.99 and one["requested"] < info["requested"]


def test_areas_in_ha_from_an_envi_map_and_a_latitude_longitude_grid(files, capsys):
    from napari_ssdgl.io.geo import geo_tags, pixel_area_ha

    hdr = write_class_map(files / "envi_map.hdr", MAP)
    hdr.write_text(hdr.read_text() + "map info = { UTM , 1 , 1 , 500000 , 4100000 , 20 , 20 , "
                                     "33 , North , WGS-84 , units=Meters }\n")
    report = run_json(capsys, hdr, "--reference", files / "truth.npy", "--propose", 60)
    assert report["pixel_area_ha"] == pytest.approx(0.04)
    # EPSG:4326 (an EMIT GLT grid): the pixel area on the ellipsoid, and a note saying so
    lonlat = geo_tags((-120.5, 0.0005, 0.0, 36.25, 0.0, -0.0005), 4326)
    write_class_map(files / "lonlat.tif", MAP, geo=lonlat)
    report = run_json(capsys, files / "lonlat.tif", "--reference", files / "truth.npy",
                      "--propose", 60)
    assert report["pixel_area_ha"] == pytest.approx(pixel_area_ha(lonlat, MAP.shape[0])[0])
    assert 0.24 < report["pixel_area_ha"] < 0.26  # ~55.5 m x ~44.8 m
    assert any("WGS-84" in n for n in report["notes"])
    # degrees over a span where one pixel area would be wrong: pixels only, and why
    wide = geo_tags((-120.5, 0.1, 0.0, 60.0, 0.0, -0.1), 4326)
    write_class_map(files / "wide.tif", MAP, geo=wide)
    assert main(["assess", str(files / "wide.tif"), "--reference", str(files / "truth.npy"),
                 "--propose", "60"]) == 0
    text = capsys.readouterr().out
    assert "area ha" not in text and "note: areas in pixels only" in text


@pytest.mark.parametrize("argv, message", [
    (["{d}/map.npy"], "give --reference"),
    (["{d}/map.npy", "--propose", "5", "--out", "{d}/p.json"], "one --out FILE.csv"),
    (["{d}/map.npy", "--reference", "{d}/truth.npy", "--out", "{d}/r.txt"], "a report is"),
    (["{d}/map.npy", "--reference", "{d}/bad.csv"], "not on pixels of their map_class"),
    (["{d}/map.npy", "--target-se", "0.05", "--anticipated-ua", "1:0.6,1:0.7", "--out",
      "{d}/p.csv"], "class 1 is given twice"),
    (["{d}/map.npy", "--reference", "{d}/nocols.csv"], "needs the columns"),
    (["{d}/map.npy", "--reference", "{d}/small.npy"], "reference raster is"),
    (["{d}/map.npy", "--reference", "{d}/truth.npy", "--points", "{d}/bad.csv", "--propose",
      "5"], "give one or the other"),
])
def test_bad_input_is_one_error_line(files, capsys, argv, message):
    (files / "bad.csv").write_text("row,col,map_class,reference\n0,0,2,1\n")
    (files / "nocols.csv").write_text("a,b\n1,2\n")
    np.save(files / "small.npy", np.ones((3, 3), np.uint8))
    assert main(["assess", *(a.format(d=files) for a in argv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("napari-ssdgl: error:") and message in err[0]
