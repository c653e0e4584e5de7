"""Refinement audit: fixed / broken / moved voxel counts with hand-computed answers, and a dense CRF that
removes a spurious blob must show up as fixed voxels, not broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from cmrseg.labels import LV, MYO, RV, UNANNOTATED
from cmrseg.metrics.refinement import RefinementCounts, refinement_audit, structure_dice_change
from cmrseg.postprocess.crf import CRFConfig, crf_refine


def test_counts_by_hand() -> None:
    truth = np.array([0, 0, LV, LV, MYO, RV])
    before = np.array([LV, 0, LV, MYO, MYO, LV])
    after = np.array([0, LV, LV, RV, MYO, RV])
    c = refinement_audit(before, after, truth)
    # changed: idx 0 (wrong->right), 1 (right->wrong), 3 (MYO->RV, wrong->wrong), 5 (wrong->right)
    assert (c.voxels, c.changed, c.fixed, c.broken, c.moved) == (6, 4, 2, 1, 1)
    assert (c.wrong_before, c.wrong_after) == (3, 2)
    s = c.summary()
    assert s["fixed_of_changed"] == pytest.approx(0.5) and s["broken_of_changed"] == pytest.approx(0.25)
    assert s["net_errors_removed_pct"] == pytest.approx(100 / 3)


def test_unannotated_voxels_are_left_out_and_counts_add_up() -> None:
    truth = np.array([0, UNANNOTATED, LV])
    before = np.array([LV, LV, 0])
    after = np.array([0, 0, UNANNOTATED])
    c = refinement_audit(before, after, truth)
    assert (c.voxels, c.changed, c.fixed) == (1, 1, 1)
    total = c + RefinementCounts(voxels=4, changed=2, fixed=0, broken=2, wrong_before=0, wrong_after=2)
    assert (total.voxels, total.changed, total.broken, total.moved) == (5, 3, 2, 0)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        refinement_audit(np.zeros(3), np.zeros(4), np.zeros(3))


def test_crf_blob_removal_is_counted_as_fixed() -> None:
    """Bright disc = LV; the 'network' is confident on it and says p = 0.7 LV on a 3 mm spot of background."""
    n, sp = 48, 1.5
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * sp
    truth = (np.hypot(yy - 40, xx - 38) <= 18).astype(np.uint8) * LV
    spot = np.hypot(yy - 12, xx - 12) <= 3
    p = np.where(truth == LV, 0.95, 0.05)
    p[spot] = 0.7
    probs = np.zeros((4, 1, n, n), np.float32)
    probs[LV, 0], probs[0, 0] = p, 1 - p
    image = np.where(truth == LV, 2.0, -0.5).astype(np.float32)[None]
    before = probs.argmax(0)
    after = crf_refine(probs, image, (sp, sp), CRFConfig()).argmax(0)
    c = refinement_audit(before, after, truth[None])
    assert c.fixed >= spot.sum() and c.broken == 0 and c.wrong_after == 0
    assert structure_dice_change(before, after, truth[None])["LV"] > 0.01
