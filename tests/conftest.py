"""Shared test set-up: small, deterministic, CPU only."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests exercise the CPU path everywhere

import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: tiny models on a shared 2-core runner are many times slower with two.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
