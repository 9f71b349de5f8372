"""Packages are found, not listed, so a new subpackage cannot be left out of the wheel; the rest
of the metadata is in setup.cfg. ``sample_data/`` (the dataset registry, data rather than code)
ships as ``napari_ssdgl.sample_data``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["napari_ssdgl", "napari_ssdgl.*"]),
              "napari_ssdgl.sample_data"],
    package_dir={"napari_ssdgl.sample_data": "sample_data"},
)
