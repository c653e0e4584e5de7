"""Shared fixtures: a tiny synthetic phantom dataset (ACDC layout) written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from testkit import SHARED_DATA, tiny_overrides  # noqa: F401  (re-exported for older imports)



@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cmrseg.data.phantom import write_phantom_dataset

    return write_phantom_dataset(tmp_path_factory.mktemp("phantom"), n_patients=4, n_val=1, seed=0)


@pytest.fixture
def one_thread():
    """Tiny training loops: one thread is faster, and on a loaded 2-core machine 2 threads thrash (10x slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
