"""The bands to train on from --bands / --exclude-bands text (workflows.band_selection)."""

import numpy as np
import pytest

from napari_ssdgl.analysis.band_syntax import BandSyntaxError
from napari_ssdgl.io.base import Cube
from napari_ssdgl.workflows.band_selection import band_selection, detect_cube
from tests.analysis.test_bands import clean_cube


def cube_with_flags() -> Cube:
    data = clean_cube(bands=10)
    data[2] = 5.0  # constant
    flags = np.zeros(10, bool)
    flags[8] = True  # the file says band 8 is bad
    return Cube(data=data, wavelengths=np.linspace(1000, 1900, 10), wavelength_units="nm",
                bad_bands=flags)


def test_nothing_asked_is_no_selection_and_the_file_flags_alone_do_nothing():
    cube = cube_with_flags()
    assert band_selection(cube) is None
    assert band_selection(cube, keep="0-9") is None


def test_auto_excludes_the_detected_bands_with_their_reasons_and_the_file_flags():
    cube = cube_with_flags()
    report = detect_cube(cube)
    assert report.indices == [2, 4, 8, 9]  # constant; 1400 nm; file flag + 1800 nm; 1900 nm
    sel = band_selection(cube, exclude="auto,0")
    assert sel.indices == (1, 3, 5, 6, 7)
    assert sel.reasons == {0: "excluded by the user", 2: "constant",
                           4: "water absorption 1350-1450 nm",
                           8: "flagged bad by the file, water absorption 1800-1950 nm",
                           9: "water absorption 1800-1950 nm"}
    # a report the caller has (the dock's) is used, not detected again
    assert band_selection(cube, exclude="auto", report=report).indices == (0, 1, 3, 5, 6, 7)
    planted = type(report)(10, {5: ("low SNR (0.5)",)})
    sel = band_selection(cube, exclude="auto", report=planted)
    assert sel.excluded == [5] and sel.reasons == {5: "low SNR (0.5)"}


def test_keep_and_exclude_by_number_and_wavelength():
    cube = cube_with_flags()
    sel = band_selection(cube, keep="0-5", exclude="1300-1500nm")  # 1300, 1400, 1500 nm
    assert sel.indices == (0, 1, 2) and sel.source_bands == 10
    assert sel.reasons[3] == "excluded by the user" and sel.reasons[7] == "not in the band list"
    arr = band_selection(cube.data, exclude="0")  # a bare array: numbers only
    assert arr.indices == tuple(range(1, 10))


def test_bad_lists_raise_the_syntax_error():
    cube = cube_with_flags()
    with pytest.raises(BandSyntaxError, match="band 12 does not exist"):
        band_selection(cube, exclude="12")
    with pytest.raises(BandSyntaxError, match="leaves 1 of 10 bands"):
        band_selection(cube, keep="3")
    with pytest.raises(BandSyntaxError, match="no bands given"):
        band_selection(cube, exclude=" ")
