"""The band-list syntax of --bands / --exclude-bands (analysis.band_syntax)."""

import numpy as np
import pytest

from napari_ssdgl.analysis.band_syntax import (
    BandSyntaxError,
    format_bands,
    kept_bands,
    parse_bands,
    wants_auto,
)

WL = np.arange(400.0, 2500.0, 100.0)  # 21 bands, 400..2400 nm


def test_indices_ranges_and_spaces():
    assert parse_bands("0-2, 5 ,7-8", 10) == [0, 1, 2, 5, 7, 8]
    assert parse_bands("3", 10) == [3]
    assert parse_bands("2-4,3-5", 10) == [2, 3, 4, 5]  # overlaps merge


def test_wavelength_ranges_in_nm_and_um():
    assert parse_bands("1300-1500nm", 21, WL, "nm") == [9, 10, 11]
    assert parse_bands("1.3-1.5um", 21, WL, "nm") == [9, 10, 11]
    assert parse_bands("1.3-1.5µm", 21, WL / 1000, "micrometers") == [9, 10, 11]
    assert parse_bands("1350-1450nm,0", 21, WL, "nm") == [0, 10]
    assert parse_bands("1310-1390nm", 21, WL, "nm") == []  # no band centre in the range


def test_auto_uses_the_given_detection():
    assert wants_auto("0-1, AUTO") and not wants_auto("0-1") and not wants_auto("autox")
    assert parse_bands("0-1,auto", 10, auto=[5, 1]) == [0, 1, 5]
    with pytest.raises(BandSyntaxError, match="'auto' needs the detected bands"):
        parse_bands("auto", 10)


@pytest.mark.parametrize("text, message", [
    ("", "no bands given"),
    ("1,,2", "an empty item between commas"),
    ("5-2", "runs from low to high"),
    ("12", "band 12 does not exist; the cube has 10 bands, 0-9"),
    ("x", "'x' is not a band item; expected a comma-separated list"),
    ("-1", "is not a band item"),
    ("1.5", "is not a band item"),
    ("900-400nm", "a wavelength range runs from low to high"),
    ("400-900nm", "the cube has no wavelengths"),
])
def test_bad_syntax_names_the_item(text, message):
    with pytest.raises(BandSyntaxError, match=message):
        parse_bands(text, 10)


def test_index_range_past_the_bands_hints_at_nm_when_wavelengths_are_known():
    with pytest.raises(BandSyntaxError, match="add nm"):
        parse_bands("400-1000", 21, WL, "nm")


@pytest.mark.parametrize("indices", [[0, 1, 2, 5, 7, 8], [3], [], [0, 2, 4], list(range(9))])
def test_format_reads_back_the_same_bands(indices):
    text = format_bands(indices)
    assert (parse_bands(text, 10) if indices else []) == indices
    assert format_bands([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_kept_bands():
    assert kept_bands(5) == [0, 1, 2, 3, 4]
    assert kept_bands(5, exclude=[1, 3]) == [0, 2, 4]
    assert kept_bands(5, keep=[4, 0, 2], exclude=[2]) == [0, 4]
    with pytest.raises(BandSyntaxError, match="leaves 1 of 5 bands"):
        kept_bands(5, exclude=[0, 1, 2, 3])
