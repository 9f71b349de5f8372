"""What the training engine says about inputs it can use only in part: constant bands (named),
an all-constant cube (an error), classes too small for the split asked for (named, with the
counts), negative label values (an error, not "test labels")."""

import numpy as np
import pytest

from napari_ssdgl.training import TrainConfig, Trainer, TrainingError, split_per_class
from napari_ssdgl.training.sampling import split_by_fraction
from tests.conftest import TINY, toy_scene

CFG = TrainConfig(iterations=1, device="cpu", model_kwargs=TINY, eval_every=0)


def test_constant_bands_are_named():
    cube, gt = toy_scene(8, 20)
    cube[2], cube[6] = 5.0, 0.0
    with pytest.warns(UserWarning, match=r"2 of the cube's 8 bands are constant .* bands 2, 6"):
        trainer = Trainer(cube, gt, CFG)
    assert trainer.std[2] == 1.0 and trainer.std[6] == 1.0  # divided by 1, as before


def test_a_band_with_a_real_std_of_one_is_not_constant():
    cube, gt = toy_scene(8, 20)
    rng = np.random.default_rng(0)
    band = rng.normal(size=cube.shape[1:])
    cube[3] = (band - band.mean()) / band.std()  # std exactly 1 (the floor's value)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(cube, gt, CFG)


def test_an_all_constant_cube_is_an_error():
    _, gt = toy_scene(8, 20)
    with pytest.raises(TrainingError, match="every band of the cube is constant"):
        Trainer(np.full((8, 20, 20), 7.0, np.float32), gt, CFG)


def test_small_classes_in_a_split_are_named():
    gt = np.zeros((10, 10), np.int64)
    gt[:5], gt[9, 8:] = 1, 3  # class 3: two pixels
    with pytest.warns(UserWarning, match=r"class 3 trains on 1 of its 2 labelled pixels, not 10: "
                                         r"every class keeps at least one labelled pixel"):
        train, _ = split_per_class(gt, 10, seed=0)
    assert (train == 3).sum() == 1 and (train == 1).sum() == 10
    with pytest.warns(UserWarning, match=r"class 3 trains on 1 of its 2 labelled pixels, not 5"):
        split_by_fraction(gt, 0.1, 5, seed=0)


def test_a_split_that_fits_says_nothing():
    import warnings

    gt = np.zeros((10, 10), np.int64)
    gt[:5], gt[5:] = 1, 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_per_class(gt, 10, seed=0)


def test_negative_labels_cannot_be_split():
    gt = np.zeros((10, 10), np.int64)
    gt[:5], gt[5:], gt[0, 0] = 1, 3, -2
    for split in (lambda: split_per_class(gt, 3), lambda: split_by_fraction(gt, 0.1)):
        with pytest.raises(TrainingError, match=r"negative values \(min -2\)") as info:
            split()
        assert "test labels" not in str(info.value)
