"""Multi-atlas baseline: registration recovers a known in-plane pose, votes fuse as defined."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from cmrseg.baselines.multi_atlas import (MultiAtlasConfig, Propagated, majority_vote, segment_multi_atlas,
                                          to_sitk, weighted_vote)
from cmrseg.data.case import Case
from cmrseg.data.phantom import make_phantom_case
from cmrseg.errors import InputError
from cmrseg.metrics import dice_per_structure


def moved(case: Case, angle_deg: float, shift_mm: tuple[float, float]) -> Case:
    """``case`` with its content rotated in-plane about the image centre and shifted (a new "patient" pose)."""
    img = to_sitk(case.image, case.spacing)
    tx = sitk.Euler3DTransform()
    tx.SetCenter(img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()]))
    tx.SetRotation(0.0, 0.0, np.radians(angle_deg))
    tx.SetTranslation((shift_mm[0], shift_mm[1], 0.0))
    image = sitk.GetArrayFromImage(sitk.Resample(img, img, tx, sitk.sitkLinear, float(case.image.min())))
    label = sitk.GetArrayFromImage(sitk.Resample(to_sitk(case.label, case.spacing), img, tx,
                                                 sitk.sitkNearestNeighbor, 0))
    return Case(image, case.spacing, case.affine, "moved", "moved", label=label)


@pytest.mark.parametrize("seed,angle,shift", [(3, 60.0, (14.0, -10.0)), (0, 60.0, (14.0, -10.0)),
                                              (5, -45.0, (-20.0, 8.0))])
def test_registration_recovers_a_rotated_shifted_heart(seed: int, angle: float, shift: tuple[float, float]) -> None:
    """Known answer: the atlas itself in a new pose. (Seed 0 defeated an earlier translation-first search: the
    unrotated heart matched best 55 mm away; the joint rotation x translation search finds it.)"""
    atlas = make_phantom_case(seed, shape=(6, 96, 96), spacing=(9.0, 2.0, 2.0))
    target = moved(atlas, angle_deg=angle, shift_mm=shift)
    identity = np.mean(list(dice_per_structure(atlas.label, target.label).values()))
    res = segment_multi_atlas(target, [atlas], MultiAtlasConfig(work_spacing_mm=3.0))
    got = dice_per_structure(res.majority, target.label)
    assert identity < 0.5  # the pose change really misaligns the structures
    assert min(got.values()) > 0.8, got  # one atlas: majority = weighted = its propagated labels
    assert np.array_equal(res.majority, res.weighted) and res.majority.shape == target.shape
    assert res.propagated[0].seconds > 0


def test_majority_vote_known_answer() -> None:
    a = np.array([[[1, 2, 0, 3]]], np.uint8)
    b = np.array([[[1, 3, 2, 3]]], np.uint8)
    c = np.array([[[2, 2, 1, 0]]], np.uint8)
    assert majority_vote([a, b, c]).tolist() == [[[1, 2, 0, 3]]]  # third voxel: a 3-way tie -> lowest code


def test_weighted_vote_trusts_atlases_that_look_like_the_target() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(2, 24, 24)).astype(np.float32)
    right = np.full(target.shape, 3, np.uint8)
    wrong = np.full(target.shape, 1, np.uint8)
    good = Propagated(target.copy(), right, sitk.Transform())  # same image as the target
    bad = [Propagated(rng.normal(size=target.shape).astype(np.float32), wrong, sitk.Transform()) for _ in range(2)]
    assert (majority_vote([good.label] + [p.label for p in bad]) == 1).all()  # outvoted 2:1
    assert (weighted_vote(target, (5.0, 1.5, 1.5), [good, *bad]) == 3).all()  # local NCC 1 vs ~0


def test_bad_atlas() -> None:
    atlas = make_phantom_case(1, shape=(4, 48, 48), spacing=(9.0, 2.0, 2.0))
    with pytest.raises(InputError, match="label"):
        segment_multi_atlas(atlas, [atlas.with_label(None)])
    with pytest.raises(InputError, match="no atlases"):
        segment_multi_atlas(atlas, [])
