"""Band plans (prediction.spectral): a cube as it is, through the model's band selection,
resampled from another sensor, or refused."""

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl.prediction.spectral import (
    BandMismatchError,
    BandPlan,
    BandSelection,
    plan_bands,
)

WL = np.linspace(400.0, 2500.0, 22)  # 100 nm apart
SEL = BandSelection((0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21), 22,
                    {3: "water", 4: "water", 12: "noise", 13: "noise"})


def cube(bands: int, size: int = 4) -> np.ndarray:
    return np.arange(bands * size * size, dtype=np.float32).reshape(bands, size, size)


def test_same_bands_by_wavelength_or_by_count():
    plan = plan_bands(22, 22, wavelengths=WL, units="nm", model_wavelengths=WL / 1000,
                      model_units="micrometers")
    assert plan.kind == "same" and plan.warning is None
    data = cube(22)
    assert plan.apply(data) is data
    assert plan_bands(7, 7).kind == "same"  # no wavelengths: the count decides
    assert plan_bands(22, 22, wavelengths=WL, units="nm").kind == "same"


def test_selection_drops_the_same_bands_from_a_full_cube():
    mwl = SEL.take(WL)
    for kw in ({"wavelengths": WL, "units": "nm", "model_wavelengths": mwl, "model_units": "nm"},
               {}):  # with wavelengths, or by the count alone
        plan = plan_bands(22, 18, selection=SEL, **kw)
        assert plan.kind == "select" and plan.indices == SEL.indices and plan.warning is None
        data = cube(22)
        np.testing.assert_array_equal(plan.apply(data), data[list(SEL.indices)])
    # a cube already in the model's bands goes in as it is
    assert plan_bands(18, 18, wavelengths=mwl, units="nm", model_wavelengths=mwl,
                      model_units="nm", selection=SEL).kind == "same"


def test_selection_json_and_validation():
    assert SEL.excluded == [3, 4, 12, 13]
    assert SEL.to_json() == {"source_bands": 22, "indices": list(SEL.indices),
                             "excluded": "3-4,12-13",
                             "reasons": {"3": "water", "4": "water", "12": "noise",
                                         "13": "noise"}}
    for bad in ((), (2, 1), (0, 0), (-1, 2), (0, 22)):
        with pytest.raises(ValueError, match="band indices must be increasing"):
            BandSelection(bad, 22)


def test_another_sensor_is_resampled_with_a_warning_naming_the_largest_gap():
    src = np.arange(400.0, 2501.0, 10.0)
    src = src[(src < 1340) | (src > 1460)]  # the cube lacks 1340-1460 nm
    plan = plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL,
                      model_units="nm", model_fwhm=np.full(22, 12.0))
    assert plan.kind == "resample" and plan.matrix.shape == (22, src.size)
    assert plan.warning == (
        f"the cube's {src.size} bands (400-2500 nm) were resampled to the model's 22 band "
        "centres by Gaussian responses (linear where the cube's bands are too coarse); largest "
        "spectral gap: the model's band at 1400 nm lies between the cube's bands at 1330 and "
        "1470 nm (140 nm apart)")
    flat = np.ones((src.size, 3, 3), np.float32) * 0.25
    np.testing.assert_allclose(plan.apply(flat), 0.25, rtol=1e-5)


def test_fwhm_in_micrometres_is_scaled_with_the_wavelengths():
    src = np.arange(400.0, 2501.0, 2.0)
    plan = plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL / 1000,
                      model_units="micrometers", model_fwhm=np.full(22, 0.02))
    assert "Gaussian response from the model's FWHM" in plan.warning
    assert np.count_nonzero(plan.matrix[5]) > 10  # 20 nm wide, not 0.02 nm


def test_same_count_other_wavelengths_is_resampled_not_passed_through():
    shifted = WL + 30.0
    plan = plan_bands(22, 22, wavelengths=shifted, units="nm", model_wavelengths=WL,
                      model_units="nm")
    assert plan.kind == "resample" and "linear interpolation" in plan.warning


def test_refusals_say_why():
    with pytest.raises(BandMismatchError, match=r"the cube has 10 bands but the model was "
                       r"trained on 22; resampling .* the cube and the model have none"):
        plan_bands(10, 22)
    with pytest.raises(BandMismatchError, match=r"trained on 18 \(the 22-band training cube "
                       r"less 4 excluded bands\).* the cube has none"):
        plan_bands(10, 18, model_wavelengths=SEL.take(WL), model_units="nm", selection=SEL)
    vnir = np.arange(400.0, 1001.0, 5.0)
    with pytest.raises(BandMismatchError, match=r"cannot resample the cube to the model's bands:"
                       r" the cube's bands cover 400-1000 nm but the model's span 400-2500 nm "
                       r"\(15 of its 22 bands outside\); resampling does not extrapolate"):
        plan_bands(vnir.size, 22, wavelengths=vnir, units="nm", model_wavelengths=WL,
                   model_units="nm")


def test_apply_checks_the_band_count_and_keeps_dask_lazy():
    src = np.arange(400.0, 2501.0, 50.0)
    plan = plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL,
                      model_units="nm")
    with pytest.raises(BandMismatchError, match="the cube has 5 bands; this band plan is for 43"):
        plan.apply(cube(5))
    rng = np.random.default_rng(0)
    data = rng.random((src.size, 8, 8)).astype(np.float32)
    data[3, 1, 1] = np.nan  # replaced by the band mean before resampling
    lazy = da.from_array(data, chunks=(10, 8, 8))
    out = plan.apply(lazy)
    assert isinstance(out, da.Array) and out.shape == (22, 8, 8)
    np.testing.assert_allclose(out.compute(), plan.apply(data), rtol=1e-5)
    assert np.isfinite(out.compute()).all()
    select = BandPlan("select", 22, 18, indices=SEL.indices)
    lazy22 = da.from_array(cube(22), chunks=(5, 2, 2))
    assert isinstance(select.apply(lazy22), da.Array)
    np.testing.assert_array_equal(select.apply(lazy22).compute(), cube(22)[list(SEL.indices)])


def test_the_cubes_bad_bands_are_dropped_before_resampling():
    """A flagged band and a band without finite values carry a spike / NaN that must reach no
    model band; the rest of the cube gives the model bands exactly as without them."""
    src = np.arange(400.0, 2501.0, 10.0)
    flat = np.full((src.size, 6, 6), 0.25, np.float32)
    flagged = int(np.flatnonzero(src == 1000.0)[0])  # under the model's band at 1000 nm
    empty = int(np.flatnonzero(src == 1610.0)[0])
    flat[flagged] = 50.0  # what a bad band holds: anything
    flat[empty] = np.nan
    flags = np.zeros(src.size, bool)
    flags[flagged] = True
    kw = dict(wavelengths=src, units="nm", model_wavelengths=WL, model_units="nm",
              model_fwhm=np.full(22, 30.0))
    plan = plan_bands(src.size, 22, flags=flags, data=flat, **kw)
    assert not plan.matrix[:, [flagged, empty]].any()
    np.testing.assert_allclose(plan.apply(flat), 0.25, rtol=1e-5)
    assert (f"Dropped first: 1 flagged bad by the file (bands {flagged}); 1 without usable "
            f"values (bands {empty})") in plan.warning
    leaky = plan_bands(src.size, 22, **kw)  # as before: the spike leaks into 1000 nm
    assert leaky.apply(flat)[6].max() > 1.0
    # a swath's empty border (NaN in every band) drops nothing
    border = np.full((src.size, 6, 6), 0.25, np.float32)
    border[:, 0] = np.nan
    assert "Dropped" not in plan_bands(src.size, 22, data=border, **kw).warning


def test_model_bands_on_dropped_bands_are_named_and_too_few_usable_bands_refused():
    src = np.arange(400.0, 2501.0, 10.0)
    flags = (src >= 1300) & (src <= 1500)  # the file flags the whole water window
    plan = plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL,
                      model_units="nm", model_fwhm=np.full(22, 12.0), flags=flags)
    assert "most of their response on dropped bands: 3 (1300-1500 nm)" in plan.warning
    assert "between the cube's bands at 1290 and 1510 nm" in plan.warning  # the real gap
    with pytest.raises(BandMismatchError, match="after dropping the cube's unusable bands"):
        plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL,
                   model_units="nm", flags=src > 2000)  # the usable bands end at 2000 nm
    with pytest.raises(BandMismatchError, match="1 of its 211 bands are usable"):
        plan_bands(src.size, 22, wavelengths=src, units="nm", model_wavelengths=WL,
                   model_units="nm", flags=src > 400)
    # flags of another length (a layer reopened otherwise) are not this cube's: ignored
    assert "Dropped" not in plan_bands(src.size, 22, wavelengths=src, units="nm",
                                       model_wavelengths=WL, model_units="nm",
                                       flags=[True, False]).warning
