"""Hash-checked downloads against a local HTTP server (no internet needed)."""

import functools
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
import scipy.io

from napari_ssdgl.datasets import DatasetError, fetch_file, load_scene, registry


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def do_GET(self):  # noqa: N802 (http.server API)
        _Handler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; yields (base_url, folder, request log)."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    www = tmp_path / "www"
    www.mkdir()
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(www))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, _Handler.requests
    httpd.shutdown()
    httpd.server_close()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_with_known_hash_downloads_once(server, tmp_path):
    base, www, log = server
    (www / "a.bin").write_bytes(b"hyperspectral" * 100)
    cache = tmp_path / "cache"
    path = fetch_file(f"{base}/a.bin", _sha(www / "a.bin"), "a.bin", scene="demo", cache_dir=cache)
    assert path == cache / "a.bin" and path.read_bytes() == (www / "a.bin").read_bytes()
    again = fetch_file(f"{base}/a.bin", _sha(www / "a.bin"), "a.bin", scene="demo",
                       cache_dir=cache)
    assert again == path and log == ["/a.bin"]  # second call served from the cache


def test_fetch_with_wrong_hash_is_a_clear_error(server, tmp_path):
    base, www, _ = server
    (www / "a.bin").write_bytes(b"tampered")
    with pytest.raises(DatasetError, match="demo.*does not match its pinned hash"):
        fetch_file(f"{base}/a.bin", "0" * 64, "a.bin", scene="demo", cache_dir=tmp_path / "c")
    assert not (tmp_path / "c" / "a.bin").exists()


def test_fetch_failures_are_clear_errors(server, tmp_path):
    base, _, _ = server
    with pytest.raises(DatasetError, match="demo.*could not download missing.bin"):
        fetch_file(f"{base}/missing.bin", None, "missing.bin", scene="demo", cache_dir=tmp_path)
    with socket.socket() as s:  # a port nobody listens on: connection refused, like no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match="demo.*internet connection"):
        fetch_file(f"http://127.0.0.1:{port}/a.bin", None, "a.bin", scene="demo",
                   cache_dir=tmp_path)


def _fake_pavia(monkeypatch, base, www, *, pinned):
    """Point the Pavia University entry at tiny .mat files on the local server."""
    rng = np.random.default_rng(0)
    cube = rng.integers(0, 8000, (6, 5, 103)).astype(np.uint16)
    gt = rng.integers(0, 10, (6, 5)).astype(np.uint8)
    scipy.io.savemat(www / "PaviaU.mat", {"paviaU": cube})
    scipy.io.savemat(www / "PaviaU_gt.mat", {"paviaU_gt": gt})
    info = dict(registry()["scenes"]["pavia_university"], shape=[103, 6, 5])
    info["download"] = {
        role: {"url": f"{base}/{name}", "file": name, "variable": var,
               "sha256": _sha(www / name) if pinned else None}
        for role, name, var in [("cube", "PaviaU.mat", "paviaU"),
                                ("gt", "PaviaU_gt.mat", "paviaU_gt")]
    }
    monkeypatch.setitem(registry()["scenes"], "pavia_university", info)
    return cube, gt


def test_load_scene_downloads_pinned_files(server, tmp_path, monkeypatch):
    base, www, log = server
    cube, gt = _fake_pavia(monkeypatch, base, www, pinned=True)
    s = load_scene("pavia_university", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(s.cube.data, np.moveaxis(cube, -1, 0))
    np.testing.assert_array_equal(s.gt.data, gt)
    assert s.gt.class_names[9] == "Shadows" and s.rgb_bands == (55, 41, 12)
    load_scene("pavia_university", cache_dir=tmp_path / "cache")
    assert sorted(log) == ["/PaviaU.mat", "/PaviaU_gt.mat"]


def test_unpinned_download_needs_consent(server, tmp_path, monkeypatch):
    base, www, log = server
    _fake_pavia(monkeypatch, base, www, pinned=False)
    monkeypatch.delenv("NAPARI_SSDGL_ALLOW_UNPINNED", raising=False)
    with pytest.raises(DatasetError, match="pavia_university.*not pinned"):
        load_scene("pavia_university", cache_dir=tmp_path / "a")
    assert log == []
    assert load_scene("pavia_university", cache_dir=tmp_path / "a",
                      allow_unpinned=True).cube.data.shape == (103, 6, 5)
    monkeypatch.setenv("NAPARI_SSDGL_ALLOW_UNPINNED", "1")
    assert load_scene("pavia_university", cache_dir=tmp_path / "b").gt.data.shape == (6, 5)


def test_corrupt_cached_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NAPARI_SSDGL_ALLOW_UNPINNED", raising=False)
    (tmp_path / "Salinas_corrected.mat").write_bytes(b"not a mat file")
    (tmp_path / "Salinas_gt.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="salinas.*could not be read"):
        load_scene("salinas", cache_dir=tmp_path)
