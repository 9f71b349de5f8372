"""The dihedral augmentation moves pixels and their flat indices together."""

import pytest
import torch

from napari_ssdgl.transforms.dihedral import dihedral, dihedral_index


@pytest.mark.parametrize("k", range(8))
def test_index_follows_the_pixel(k):
    n, c, h, w = 2, 3, 5, 7
    x = torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w)
    index = torch.tensor([0, 6, 7, 20, 34, 35, 41, 69])  # corners, edges, 2nd image
    moved = dihedral(x, k)
    mh, mw = moved.shape[-2:]
    assert (mh, mw) == ((w, h) if k & 4 else (h, w))
    before = x.permute(0, 2, 3, 1).reshape(-1, c)[index]
    after = moved.permute(0, 2, 3, 1).reshape(-1, c)[dihedral_index(index, k, h, w)]
    assert torch.equal(before, after)


def test_all_eight_elements_differ():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    images = {tuple(dihedral(x, k).flatten().tolist()) + (dihedral(x, k).shape[-1],)
              for k in range(8)}
    assert len(images) == 8


def test_identity():
    x = torch.randn(1, 2, 4, 6)
    index = torch.arange(24)
    assert torch.equal(dihedral(x, 0), x)
    assert torch.equal(dihedral_index(index, 0, 4, 6), index)
