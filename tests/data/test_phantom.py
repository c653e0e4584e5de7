"""Known-answer tests of the synthetic short-axis phantom (cmrseg.data.phantom)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cmrseg.data.phantom import CSV_COLUMNS, make_phantom_case, make_phantom_pair, write_phantom_dataset
from cmrseg.labels import BACKGROUND, LV, MYO, RV, UNANNOTATED

SEEDS = (0, 1, 2)
FOUR = ndimage.generate_binary_structure(2, 1)  # 4-connectivity


@pytest.fixture(scope="module")
def pairs():
    return {seed: make_phantom_pair(seed, f"phantom{seed:03d}") for seed in SEEDS}


def _cases(pairs):
    return [case for pair in pairs.values() for case in pair]


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether 2D masks ``a`` and ``b`` share a 4-neighbour edge."""
    return bool((ndimage.binary_dilation(a, FOUR) & b).any())


def test_case_fields(pairs):
    ed, es = pairs[0]
    assert (ed.phase, ed.frame, ed.case_id) == ("ED", 1, "phantom000_frame01")
    assert es.phase == "ES" and 10 <= es.frame <= 14 and es.case_id == f"phantom000_frame{es.frame:02d}"
    for case in (ed, es):
        assert case.dataset == "phantom" and case.sequence == "bssfp" and case.patient == "phantom000"
        sz, sy, sx = case.spacing
        assert 8 <= sz <= 10 and 1.3 <= sy <= 1.8 and sx == sy
        np.testing.assert_allclose(case.affine, np.diag([sx, sy, sz, 1.0]))
        nz, ny, nx = case.shape
        assert 8 <= nz <= 12 and 160 <= ny <= 224 and 160 <= nx <= 224
    assert ed.shape == es.shape and ed.spacing == es.spacing


def test_labels_images_and_scribbles_are_valid(pairs):
    for case in _cases(pairs):
        assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
        assert case.image.min() == 0.0 and case.image.max() == 1.0
        assert set(np.unique(case.label)) <= {BACKGROUND, RV, MYO, LV}
        mid = case.label[case.shape[0] // 2]
        assert all((mid == k).any() for k in (RV, MYO, LV)), "all structures at mid-ventricle"
        drawn = case.scribble != UNANNOTATED
        assert set(np.unique(case.scribble)) == {BACKGROUND, RV, MYO, LV, UNANNOTATED}
        np.testing.assert_array_equal(case.scribble[drawn], case.label[drawn])  # strokes lie inside their class
        assert drawn.mean() < 0.05, "scribbles are thin strokes"


def test_rv_touches_myocardium_and_never_the_lv(pairs):
    for case in _cases(pairs):
        n_rv_slices = 0
        for lab in case.label:
            rv = lab == RV
            if rv.any():
                n_rv_slices += 1
                assert _touches(rv, lab == MYO)
                assert not _touches(rv, lab == LV)
        assert n_rv_slices >= 3
        assert not (case.label[-1] == RV).any(), "RV vanishes before the apex"


def test_myocardium_encloses_lv_blood_pool(pairs):
    for case in _cases(pairs):
        for lab in case.label:
            assert not _touches(lab == LV, (lab == BACKGROUND) | (lab == RV))


def test_base_to_apex_shrinks(pairs):
    for case in _cases(pairs):
        lv = (case.label == LV).sum((1, 2))
        rv = (case.label == RV).sum((1, 2))
        assert lv[: len(lv) // 3].mean() > 2 * lv[-2:].mean()
        assert rv[0] > 2 * rv[len(rv) // 2]


def test_contraction_gives_known_ejection_fraction(pairs):
    for ed, es in pairs.values():
        ved, ves = ed.meta["volumes_ml"], es.meta["volumes_ml"]
        voxel_ml = np.prod(ed.spacing) / 1000
        assert ved["LV"] == pytest.approx((ed.label == LV).sum() * voxel_ml)
        assert ved["LV"] > ves["LV"] and ved["RV"] > ves["RV"]
        ef = (ved["LV"] - ves["LV"]) / ved["LV"]
        assert 0.35 <= ef <= 0.70
        assert ed.meta["lv_ef"] == es.meta["lv_ef"] == pytest.approx(ef)
        assert 0.35 <= ed.meta["rv_ef"] <= 0.75
        assert ed.meta["lv_ef_analytic"] == pytest.approx(ef, abs=0.02)
        assert ved["Myo"] == pytest.approx(ves["Myo"], rel=0.05), "myocardial volume is conserved"
        for case in (ed, es):  # voxel counts agree with the exact disc-summation volumes
            for name in ("LV", "Myo"):
                assert case.meta["volumes_ml"][name] == pytest.approx(case.meta["analytic_volumes_ml"][name], rel=0.03)


def test_ed_and_es_share_pose(pairs):
    for ed, es in pairs.values():
        z = ed.shape[0] // 2
        c_ed = np.array(ndimage.center_of_mass(ed.label[z] == LV))
        c_es = np.array(ndimage.center_of_mass(es.label[z] == LV))
        assert np.linalg.norm(c_ed - c_es) < 3.0  # pixels; only contraction differs
        assert (ed.label[z] == LV).sum() > (es.label[z] == LV).sum()


def test_blood_is_brighter_than_myocardium(pairs):
    for case in _cases(pairs):
        img, lab = case.image, case.label
        lv, myo, rv = (img[lab == k].mean() for k in (LV, MYO, RV))
        assert lv > myo + 0.2 and rv > myo + 0.15


def test_determinism_and_variation(pairs):
    a = make_phantom_case(1, "ES", patient="phantom001")
    b = make_phantom_case(1, "ES", patient="phantom001")
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    np.testing.assert_array_equal(a.scribble, b.scribble)
    np.testing.assert_array_equal(a.image, pairs[1][1].image)  # a seed's case is the ES frame of its pair
    c = make_phantom_case(np.random.default_rng(99), "ES")
    assert c.shape != a.shape or not np.array_equal(c.label, a.label)
    assert pairs[0][0].shape != pairs[1][0].shape or not np.array_equal(pairs[0][0].label, pairs[1][0].label)


def test_grid_arguments():
    case = make_phantom_case(3, "ED", shape=(8, 128, 144), spacing=(10.0, 1.5, 1.5))
    assert case.shape == (8, 128, 144) and case.spacing == (10.0, 1.5, 1.5)
    assert make_phantom_case(4, n_slices=9).shape[0] == 9
    with pytest.raises(ValueError):
        make_phantom_case(0, "MID")
    with pytest.raises(ValueError):
        make_phantom_case(0, n_slices=9, shape=(10, 160, 160))


def test_write_phantom_dataset(tmp_path):
    root = write_phantom_dataset(tmp_path / "phantom", n_patients=3, n_val=1, seed=5)
    df = pd.read_csv(root / "patients.csv")
    assert tuple(df.columns) == CSV_COLUMNS
    assert list(df.patient) == ["patient001", "patient002", "patient003"]
    assert list(df.split) == ["train", "train", "val"] and set(df.group) == {"PHANTOM"}
    assert (df.ed_frame == 1).all() and df.es_frame.between(10, 14).all()
    for row in df.itertuples():
        for frame in (row.ed_frame, row.es_frame):
            stem = root / row.patient / f"{row.patient}_frame{frame:02d}"
            img = nib.load(f"{stem}.nii.gz")
            gt = np.asanyarray(nib.load(f"{stem}_gt.nii.gz").dataobj)
            scribble = np.asanyarray(nib.load(f"{stem}_scribble.nii.gz").dataobj)
            data = np.asanyarray(img.dataobj)
            assert data.dtype == np.float32 and gt.dtype == np.uint8 and scribble.dtype == np.uint8
            assert data.shape == gt.shape == scribble.shape and 8 <= data.shape[2] <= 12  # (x, y, z)
            np.testing.assert_allclose(img.header.get_zooms()[:3],
                                       (row.spacing_x_mm, row.spacing_y_mm, row.spacing_z_mm), atol=1e-4)
            assert set(np.unique(gt)) == {0, 1, 2, 3} and set(np.unique(scribble)) == {0, 1, 2, 3, 4}
    assert sorted(p.name for p in root.iterdir()) == ["patient001", "patient002", "patient003", "patients.csv"]
    assert len(list((root / "patient001").glob("*.nii.gz"))) == 6
