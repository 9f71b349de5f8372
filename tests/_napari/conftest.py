"""The dock's background warm-up (``_napari._warmup``) is off in the GUI tests, except where a
test turns it on: every test opens a dock, and each warm-up is a full training iteration."""

import pytest


@pytest.fixture(autouse=True)
def _no_warmup(monkeypatch):
    monkeypatch.setenv("NAPARI_SSDGL_WARMUP", "0")
