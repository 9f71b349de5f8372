"""The Assess section in a real viewer: propose a sample on a class map (none on the training
pixels), label points with the class keys or from a ground-truth layer, compute the report,
export it; bad steps are notifications that change nothing."""

import json

import numpy as np
import pytest
from napari.utils.key_bindings import KeyBinding

from napari_ssdgl._napari._assess_box import AssessBox
from napari_ssdgl.workflows.assess import Points, assess_points

MAP = np.ones((24, 30), np.int32)
MAP[:, 15:] = 2
MAP[16:, :8] = 3
TRUTH = MAP.copy()
TRUTH[:4, 10:20] = 3
TRAIN = np.zeros_like(MAP)
TRAIN[::3, ::3] = MAP[::3, ::3]


@pytest.fixture
def box(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(MAP, name="scene prediction", metadata={"class_names": {1: "a", 2: "b"}})
    viewer.add_labels(TRUTH, name="scene gt")
    train = viewer.add_labels(TRAIN, name="painted")
    box = AssessBox(viewer, training_labels=lambda: train)
    box.map_picker.value = viewer.layers["scene prediction"]
    box.reference_picker.value = viewer.layers["scene gt"]
    return viewer, box


def test_propose_label_compute_export(box, notes, tmp_path):
    viewer, box = box
    box.size.setValue(45)
    box.min_per_class.setValue(10)
    layer = box.propose()
    assert layer is not None and layer.name == "scene prediction reference sample"
    f = layer.features
    assert len(f) == 45 and (f["reference"] == 0).all()
    assert (MAP[f["row"], f["col"]] == f["map_class"]).all()
    assert not TRAIN[f["row"], f["col"]].any()  # no point on a training pixel
    assert "training pixels excluded" in box.summary.text()
    # the class keys label the selected point and move on to the next unlabelled one
    layer.selected_data = {0}
    layer.keymap[KeyBinding.from_str("2")](layer)
    assert layer.features["reference"].iloc[0] == 2
    assert layer.selected_data == {1}
    assert box.next_point() == 1
    # the rest from the ground-truth layer, then the report
    assert box.fill_from_layer() == 45
    result = box.compute()
    assert result is not None and box.table.rowCount() == 3
    pts = Points(*(layer.features[c].to_numpy() for c in ("row", "col", "map_class",
                                                          "reference")))
    expected = assess_points(MAP, pts, exclude=TRAIN > 0)
    assert result.report.oa == pytest.approx(expected.report.oa)
    assert box.table.item(0, 0).text() == "1 a"
    assert "OA" in box.summary.text()
    for suffix in ("csv", "json", "png"):
        assert box.export(tmp_path / f"a.{suffix}") == tmp_path / f"a.{suffix}"
    assert json.loads((tmp_path / "a.json").read_text())["oa"] == pytest.approx(
        expected.report.oa)
    before = (tmp_path / "a.csv").read_bytes()
    assert box.export(tmp_path / "a.csv") is None  # exists: refused, left as it was
    assert any("already exists" in e for e in notes.errors)
    assert (tmp_path / "a.csv").read_bytes() == before
    # save the labelling and load it back
    assert box.save_points(tmp_path / "p.csv") is not None
    assert (tmp_path / "p.csv").read_text().startswith("row,col,map_class,reference\n")  # no grid
    viewer.layers.remove(layer)
    again = box.load_points(tmp_path / "p.csv")
    assert (again.features["reference"].to_numpy() == pts.reference).all()


def test_bad_steps_are_notifications(box, notes, tmp_path):
    viewer, box = box
    assert box.compute() is None and box.export(tmp_path / "x.csv") is None
    box.size.setValue(20)
    box.min_per_class.setValue(2)
    layer = box.propose()
    assert box.compute() is None  # nothing labelled yet
    assert any("label the points first" in e for e in notes.errors)
    layer.selected_data = set()
    assert box.label_selected(3) == 0
    (tmp_path / "bad.csv").write_text("row,col\n1,2\n")
    assert box.load_points(tmp_path / "bad.csv") is None
    assert any("needs the columns" in e for e in notes.errors)
    assert not list(tmp_path.glob("x.*"))


def test_in_the_dock_the_painted_pixels_get_no_point(opened):
    viewer, w = opened
    labels = w.new_labels_layer()
    data = np.zeros(labels.data.shape, np.int32)
    data[::2, ::2] = 1
    labels.data = data
    w.data.labels_picker.value = labels
    gt = next(la for la in viewer.layers if "gt" in la.name.lower() or "truth" in
              la.name.lower())
    w.assess.map_picker.value = gt
    w.assess.size.setValue(30)
    w.assess.min_per_class.setValue(3)
    layer = w.assess.propose()
    f = layer.features
    assert len(f) >= 30 and not data[f["row"], f["col"]].any()
    assert viewer.layers.selection.active is not layer  # the brush stays where it was


def test_a_new_sample_never_replaces_labelled_points(box, notes):
    viewer, box = box
    box.size.setValue(20)
    box.min_per_class.setValue(2)
    layer = box.propose()
    assert box.propose() is not None  # nothing labelled yet: replaced
    layer = box.points_layer
    layer.selected_data = {0}
    box.label_selected(1)
    assert box.propose() is None
    assert any("labelled points" in w for w in notes.warnings)
    assert viewer.layers["scene prediction reference sample"] is layer
    assert layer.features["reference"].iloc[0] == 1


def _products(folder):
    """(cube layer data and kwargs as the napari reader opens them, pixel area in ha) of each
    georeferenced product; EMIT on its GLT grid (the reader opens the swath, which has none)."""
    from napari_ssdgl._napari._reader import get_reader
    from napari_ssdgl.io.emit import read_emit
    from napari_ssdgl.io.geo import pixel_area_ha
    from tests.io.products import write_aviris_ng, write_emit, write_enmap, write_prisma

    aviris = write_aviris_ng(folder / "aviris", rows=12, cols=10)["hdr"]
    write_prisma(folder / "prisma.he5", rows=12, cols=10)
    enmap = write_enmap(folder / "enmap", rows=12, cols=10)["image"]
    for path, ha in ((aviris, 25 / 10_000), (folder / "prisma.he5", 0.09), (enmap, 0.09)):
        (data, kwargs, _), *_ = get_reader(str(path))(str(path))
        yield data, kwargs, ha
    write_emit(folder / "emit.nc", rows=11, cols=9)
    cube = read_emit(folder / "emit.nc", orthorectify=True)[0]
    yield cube.data, {"name": "emit", "metadata": cube.metadata()}, pixel_area_ha(
        cube.geo, 12)[0]


@pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")
def test_the_dock_shows_areas_in_ha_from_each_products_grid(make_napari_viewer, tmp_path):
    from napari_ssdgl._napari._widget import SSDGLWidget

    viewer = make_napari_viewer()
    w = SSDGLWidget(viewer)
    cmap = np.ones((12, 10), np.int32)
    cmap[:, 5:] = 2
    for i, (data, kwargs, ha) in enumerate(_products(tmp_path)):
        cube = viewer.add_image(data, **kwargs)
        prediction = viewer.add_labels(cmap, name=f"prediction {i}")
        viewer.add_labels(cmap, name=f"reference {i}")
        w.data.cube_picker.value = cube
        w.assess.map_picker.value = prediction
        w.assess.reference_picker.value = viewer.layers[f"reference {i}"]
        w.assess.size.setValue(20)
        w.assess.min_per_class.setValue(5)
        assert w.assess.propose() is not None and w.assess.fill_from_layer() == 20
        result = w.assess.compute()
        assert result.report.pixel_area_ha == pytest.approx(ha), kwargs["name"]
        assert w.assess.table.item(0, 5).text() == f"{60 * ha:.2f} ± 0.00"  # 60 px, exact
    assert "WGS-84" in w.assess.summary.text()  # EMIT: how the lat/lon pixel area was found


def test_a_class_maps_own_grid_and_no_wrong_ha(box, tmp_path):
    from napari_ssdgl.io import write_class_map
    from napari_ssdgl.io.geo import geo_tags

    viewer, box = box
    path = write_class_map(tmp_path / "wide.tif", MAP,  # 0.5 degree pixels from 60 N
                           geo=geo_tags((10.0, 0.5, 0.0, 60.0, 0.0, -0.5), 4326))
    layer = viewer.open(path, plugin="napari-ssdgl")[0]
    assert "geo" in layer.metadata
    box.map_picker.value = layer
    box.size.setValue(20)
    box.min_per_class.setValue(4)
    box.propose()
    box.fill_from_layer()
    result = box.compute()
    assert result.report.pixel_area_ha is None and box.table.item(0, 5).text() == ""
    assert "Areas in pixels only" in box.summary.text()


def test_anticipated_user_accuracies_one_or_per_class(box, notes):
    from napari_ssdgl.analysis.sample_design import sample_size

    viewer, box = box
    box.min_per_class.setValue(0)
    box.target_se.setValue(0.05)
    box.anticipated_ua.setText("0.99")
    few = len(box.propose().data)
    box.anticipated_ua.setText("1:0.6,3:0.7")  # class 2: the default 0.85
    many = len(box.propose().data)
    sizes = {c: int(((MAP == c) & (TRAIN == 0)).sum()) for c in (1, 2, 3)}
    assert many == sample_size(sizes, 0.05, {1: 0.6, 2: 0.85, 3: 0.7}) > few
    assert "1: 0.6, 3: 0.7 (others 0.85)" in box.summary.text()
    layer = box.points_layer
    box.anticipated_ua.setText("1:0.6,1:0.9")
    assert box.propose() is None and box.points_layer is layer  # nothing changed
    assert any("given twice" in e for e in notes.errors)


@pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")
def test_saved_points_carry_the_map_coordinates_the_cli_writes(make_napari_viewer, tmp_path):
    from napari_ssdgl._napari._reader import get_reader
    from napari_ssdgl._napari._widget import SSDGLWidget
    from napari_ssdgl.workflows.assess import geometry_from_tags, read_points, write_points
    from tests.io.products import write_aviris_ng

    viewer = make_napari_viewer()
    w = SSDGLWidget(viewer)
    hdr = write_aviris_ng(tmp_path / "aviris", rows=12, cols=10)["hdr"]
    (data, kwargs, _), *_ = get_reader(str(hdr))(str(hdr))
    w.data.cube_picker.value = viewer.add_image(data, **kwargs)  # UTM 11N, 5 m
    cmap = np.ones((12, 10), np.int32)
    cmap[:, 5:] = 2
    w.assess.map_picker.value = viewer.add_labels(cmap, name="prediction")  # on its grid
    w.assess.size.setValue(12)
    w.assess.min_per_class.setValue(3)
    w.assess.propose()
    w.assess.points_layer.selected_data = {0}
    w.assess.label_selected(2)
    saved = w.assess.save_points(tmp_path / "dock.csv")
    pts = read_points(saved)
    assert pts.reference[0] == 2
    cli = write_points(tmp_path / "cli.csv", pts, geometry=geometry_from_tags(kwargs["metadata"][
        "geo"]))  # what 'napari-ssdgl assess' writes for these points on this grid
    text = saved.read_text()
    assert text == cli.read_text() and text.startswith("row,col,map_class,reference,x,y\n")
    x, y = (float(v) for v in text.splitlines()[1].split(",")[-2:])
    assert x == pytest.approx(724522.127 + 5 * (pts.cols[0] + 0.5))  # the pixel centre (UTM)
    assert y == pytest.approx(4074620.759 - 5 * (pts.rows[0] + 0.5))


@pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")
def test_a_map_on_an_emit_swath_points_to_the_orthorectify_box(make_napari_viewer, tmp_path):
    from napari_ssdgl._napari._widget import SSDGLWidget
    from tests.io.products import write_emit

    write_emit(tmp_path / "emit.nc", rows=12, cols=10)
    viewer = make_napari_viewer()
    cube = viewer.open(str(tmp_path / "emit.nc"), plugin="napari-ssdgl")[0]
    assert "geo" not in cube.metadata  # the swath, as napari opens it
    w = SSDGLWidget(viewer)
    w.data.cube_picker.value = cube
    cmap = np.ones((12, 10), np.int32)
    cmap[:, 5:] = 2
    w.assess.map_picker.value = viewer.add_labels(cmap, name="swath prediction")
    w.assess.reference_picker.value = viewer.add_labels(cmap, name="swath reference")
    w.assess.size.setValue(20)
    w.assess.min_per_class.setValue(5)
    assert w.assess.propose() is not None and w.assess.fill_from_layer() == 20
    assert w.assess.compute().report.pixel_area_ha is None
    assert "EMIT swath" in w.assess.summary.text()
    assert "Orthorectified (EMIT map grid)" in w.assess.summary.text()
