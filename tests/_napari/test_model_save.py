"""The dock's Save model: a folder that already holds files is written into only when the user
says so (ModelBox.confirm_overwrite, a QMessageBox question); a file where the folder goes is
an error before anything is written."""

from __future__ import annotations

import pytest

from napari_ssdgl.training import TrainConfig, Trainer
from tests._napari.gui_helpers import Notes
from tests.conftest import TINY, toy_scene

pytestmark = pytest.mark.gui


def snapshot(root):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def clf():
    cube, gt = toy_scene(6, 16)
    cfg = TrainConfig(iterations=1, device="cpu", model_kwargs=TINY, eval_every=0)
    return Trainer(cube, gt, cfg).fit()


@pytest.fixture
def dock(make_napari_viewer, clf):
    from napari_ssdgl._napari._widget import SSDGLWidget

    widget = SSDGLWidget(make_napari_viewer())
    widget.classifier = clf
    return widget


def asked(monkeypatch, dock, answer: bool) -> list:
    """Replace the question by ``answer``; the list gets (directory, names) per question."""
    questions = []

    def confirm(directory, held):
        questions.append((directory, held))
        return answer

    monkeypatch.setattr(dock.model, "confirm_overwrite", confirm)
    return questions


def test_a_new_or_empty_folder_is_saved_without_a_question(dock, tmp_path, monkeypatch):
    questions = asked(monkeypatch, dock, False)
    assert dock.save_model(tmp_path / "new") is not None
    (tmp_path / "empty").mkdir()
    assert dock.save_model(tmp_path / "empty") is not None
    assert questions == []
    assert {p.name for p in (tmp_path / "empty").iterdir()} == {"model.json",
                                                                 "model.safetensors"}


def test_a_folder_with_files_is_saved_into_only_when_confirmed(dock, tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert dock.save_model(folder / "m") is not None
    (folder / "m" / "readme.txt").write_text("the first model")
    before = snapshot(tmp_path)
    questions = asked(monkeypatch, dock, False)
    assert dock.save_model(folder / "m") is None
    assert questions == [(folder / "m", ["model.json", "model.safetensors", "readme.txt"])]
    assert snapshot(tmp_path) == before  # declined: nothing written
    assert "not saved" in dock.model.status.text()
    questions = asked(monkeypatch, dock, True)
    assert dock.save_model(folder / "m") == folder / "m"
    assert len(questions) == 1 and (folder / "m" / "readme.txt").read_text() == "the first model"
    assert not [p for p in (folder / "m").iterdir() if ".partial-" in p.name]


def test_the_question_names_what_is_there_and_what_is_replaced(dock, tmp_path, monkeypatch):
    from napari_ssdgl._napari import _model_box

    seen = {}

    def question(parent, title, text, buttons, default):
        seen.update(title=title, text=text, default=default)
        return _model_box.QMessageBox.No

    monkeypatch.setattr(_model_box.QMessageBox, "question", staticmethod(question))
    assert dock.model.confirm_overwrite(tmp_path, ["a.tif", "model.json"]) is False
    assert "a.tif, model.json" in seen["text"] and "model.json there will be replaced" in \
        seen["text"]
    assert seen["default"] == _model_box.QMessageBox.No  # Enter does not overwrite


def test_a_file_where_the_folder_goes_is_an_error_before_asking(dock, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("a file")
    questions = asked(monkeypatch, dock, True)
    notes = Notes()
    assert dock.save_model(tmp_path / "taken") is None
    assert questions == [] and (tmp_path / "taken").read_text() == "a file"
    assert any("is a file, not a folder" in m for m in notes.errors), notes.errors
