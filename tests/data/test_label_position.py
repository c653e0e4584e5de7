"""Slice position targets for the SCN: normalised to the labelled extent of each volume."""

from __future__ import annotations

import numpy as np
import pytest

from cmrseg.data.preprocess import Geometry, Preprocessed
from cmrseg.data.streams import PatchStream, SliceBank, label_extent, label_position


def test_label_position_known_values() -> None:
    assert [label_position(z, (2, 6), 10) for z in (0, 2, 3, 6, 9)] == [0.0, 0.0, 0.25, 1.0, 1.0]
    assert [label_position(z, (4, 4), 10) for z in (3, 4, 5)] == [0.0, 0.5, 1.0]
    assert label_position(3, None, 7) == pytest.approx(0.5)  # no labels: z / (nz - 1)


def test_label_extent_ignores_unannotated_code() -> None:
    lab = np.zeros((6, 4, 4), np.uint8)
    lab[:, 0, 0] = 4  # scribble "not annotated" everywhere
    lab[1, 2, 2] = 3
    lab[4, 1, 1] = 1
    assert label_extent(lab) == (1, 4)
    assert label_extent(np.zeros((3, 4, 4), np.uint8)) is None and label_extent(None) is None


def test_labelled_stream_provides_label_position_unlabelled_does_not() -> None:
    z, size = 10, 32
    lab = np.zeros((z, size, size), np.uint8)
    lab[2:7, 10:20, 10:20] = 3  # labelled slices 2..6
    vol = Preprocessed(np.random.default_rng(0).normal(size=(z, size, size)).astype(np.float32), lab,
                       Geometry((size, size), (size, size), (0, 0)), (8.0, 1.5, 1.5))
    bank = SliceBank([vol], ["v"])
    batch = next(PatchStream(bank, 64, patch=16, seed=0))
    zs = np.rint(batch["slice_position"].numpy() * (z - 1)).astype(int)
    want = np.clip((zs - 2) / 4, 0, 1)
    assert np.allclose(batch["label_position"].numpy(), want)
    assert "label_position" not in next(PatchStream(bank, 4, patch=16, with_labels=False, seed=0))
