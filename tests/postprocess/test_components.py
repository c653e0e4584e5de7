"""Post-processing removes a known spurious blob and fills a known hole."""

import numpy as np

from cmrseg.postprocess import postprocess_label


def test_removes_blob_and_fills_hole() -> None:
    lab = np.zeros((3, 40, 40), np.uint8)
    lab[:, 10:30, 10:30] = 2
    lab[:, 14:26, 14:26] = 3
    lab[1, 19:21, 19:21] = 0  # hole in the LV cavity
    lab[:, 2:4, 35:37] = 3  # spurious LV blob far away
    out = postprocess_label(lab)
    assert out[1, 19, 19] == 3
    assert (out[:, 2:4, 35:37] == 0).all()
    assert (out[:, 10:30, 10:30] > 0).all()
