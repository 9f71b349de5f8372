"""The wheel holds the whole package: every module of the source tree is in it and imports from
it, with the manifest and the dataset registry beside them (packages are found, not listed, so
a new subpackage cannot be left out)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import napari_ssdgl

ROOT = Path(napari_ssdgl.__file__).parent.parent
SOURCES = ("napari_ssdgl", "sample_data", "setup.py", "setup.cfg", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the source, so the checkout gets no build/ or egg-info."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("napari_ssdgl-*.whl")
    return whl


def source_modules() -> set[str]:
    pkg = ROOT / "napari_ssdgl"
    return {str(p.relative_to(ROOT)) for p in pkg.rglob("*.py")}


def test_wheel_holds_every_module_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {n for n in names if n.endswith(".py") and n.startswith("napari_ssdgl/")}
    registry = {"napari_ssdgl/sample_data/registry.json", "napari_ssdgl/sample_data/__init__.py"}
    assert modules - registry == source_modules()
    assert "napari_ssdgl/napari.yaml" in names
    assert registry <= names


def test_every_module_imports_from_the_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import importlib, pathlib, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "site = pathlib.Path(sys.argv[1])\n"
        "import napari_ssdgl\n"
        "assert pathlib.Path(napari_ssdgl.__file__).is_relative_to(site), napari_ssdgl.__file__\n"
        "for p in sorted((site / 'napari_ssdgl').rglob('*.py')):\n"
        "    parts = p.relative_to(site).with_suffix('').parts\n"
        "    if parts[-1] == '__main__':\n"
        "        continue\n"
        "    importlib.import_module('.'.join(parts[:-1] if parts[-1] == '__init__' else parts))\n"
        "from napari_ssdgl.datasets import list_scenes\n"
        "assert 'indian_pines' in list_scenes()\n"
        "print('imported')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(site)], cwd=tmp_path,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin",
                               "QT_QPA_PLATFORM": "offscreen"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "imported"
