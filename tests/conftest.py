"""Shared fixtures: a tiny synthetic phantom dataset (ACDC layout) written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import SHARED_DATA, tiny_overrides  # noqa: F401  (re-exported for older imports)



@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cmrseg.data.phantom import write_phantom_dataset

    return write_phantom_dataset(tmp_path_factory.mktemp("phantom"), n_patients=4, n_val=1, seed=0)
