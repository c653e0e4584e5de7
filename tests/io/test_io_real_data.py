"""Readers on the real ACDC and MS-CMRSeg copies in ../shared/data (skipped when absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cmrseg.io import detect_layout, load_dataset
from cmrseg.labels import LV

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ACDC, MSCMR = DATA / "acdc", DATA / "mscmr_lge"


@pytest.fixture(scope="module")
def acdc_refs():
    if not ACDC.is_dir():
        pytest.skip(f"{ACDC} not available")
    return load_dataset(ACDC)


@pytest.fixture(scope="module")
def mscmr_refs():
    if not MSCMR.is_dir():
        pytest.skip(f"{MSCMR} not available")
    return load_dataset(MSCMR)


def test_acdc_listing(acdc_refs):
    assert detect_layout(ACDC) == "acdc"
    assert len(acdc_refs) == 160 and len({r.case_id for r in acdc_refs}) == 160
    assert all(r.label_path and r.scribble_path for r in acdc_refs)
    assert Counter(r.phase for r in acdc_refs) == {"ED": 80, "ES": 80}
    splits = Counter(r.split for r in acdc_refs if r.phase == "ED")
    assert splits == {"train": 70, "val": 10}
    assert [r.patient for r in acdc_refs] == sorted(r.patient for r in acdc_refs)


def test_acdc_patient090_phases(acdc_refs):
    """patients.csv gives ED frame 4, ES frame 11 for patient090 (the data README says the reverse).

    The labels side with the CSV: the LV blood pool is larger in frame 4, and end-diastole is by definition
    the frame of largest ventricular volume.
    """
    p090 = {r.phase: r for r in acdc_refs if r.patient == "patient090"}
    assert (p090["ED"].frame, p090["ES"].frame) == (4, 11)
    ed, es = p090["ED"].load(), p090["ES"].load()
    assert (ed.label == LV).sum() > (es.label == LV).sum()


def test_acdc_patient002_geometry(acdc_refs):
    case = acdc_refs[0].load()
    assert case.case_id == "patient002_frame01" and case.phase == "ED" and case.meta["split"] == "val"
    assert case.spacing == pytest.approx((10.0, 1.367, 1.367), abs=1e-3)
    assert case.shape == (10, 256, 232)
    assert set(np.unique(case.label)) == {0, 1, 2, 3} and case.scribble.max() == 4


def test_mscmr_listing(mscmr_refs):
    assert detect_layout(MSCMR) == "mscmr"
    train = [r for r in mscmr_refs if r.split == "train"]
    val = [r for r in mscmr_refs if r.split == "val"]
    assert len(train) == 25 and len(val) == 5 and len(mscmr_refs) == 30
    assert all(r.scribble_path and r.label_path is None for r in train)
    assert all(r.label_path and r.scribble_path is None for r in val)
    assert all(r.sequence == "lge" for r in mscmr_refs)


def test_mscmr_val_case_loads(mscmr_refs):
    case = next(r for r in mscmr_refs if r.split == "val").load()
    assert set(np.unique(case.label)) <= {0, 1, 2, 3} and case.spacing[0] == pytest.approx(5.0, abs=0.01)
