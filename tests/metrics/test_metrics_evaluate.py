"""evaluate_pair / evaluate_cases / evaluate_folders, saving and the rich table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from rich.console import Console

from cmrseg.data.case import Case
from cmrseg.errors import InputError
from cmrseg.metrics import evaluate_cases, evaluate_folders, evaluate_pair, penalty_mm, render_table

SPACING = (5.0, 1.2, 0.8)
SHAPE = (4, 24, 32)


def heart(lv: int = 5, shift: int = 0, rv: bool = True) -> np.ndarray:
    """Square LV of half-width ``lv`` in a 2-voxel Myo ring, RV to its side; ``shift`` moves it along x."""
    lab = np.zeros(SHAPE, np.uint8)
    c = 10 + shift
    lab[1:3, 10 - lv - 2:10 + lv + 2, c - lv - 2:c + lv + 2] = 2
    lab[1:3, 10 - lv:10 + lv, c - lv:c + lv] = 3
    if rv:
        lab[1:3, 8:12, 24:30] = 1
    return lab


def write(path: Path, lab_zyx: np.ndarray, spacing=SPACING) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    nib.save(nib.Nifti1Image(np.transpose(lab_zyx, (2, 1, 0)).astype(np.uint8), affine), str(path))
    return path


def test_evaluate_pair_statuses_and_volumes():
    gt = heart()
    pred = heart(rv=False)
    pred[0, 20, 2] = 1  # RV predicted in the wrong place only
    gt_no_rv = heart(rv=False)
    by = {m.structure: m for m in evaluate_pair(heart(rv=False), gt, SPACING)}
    assert [m for m in by] == ["LV", "Myo", "RV"]
    assert by["LV"].status == "ok" and by["LV"].dice == 1.0 and by["LV"].hd95_mm == 0.0
    assert by["LV"].gt_ml == pytest.approx(2 * 10 * 10 * 4.8 / 1000)
    assert by["RV"].status == "missed" and by["RV"].dice == 0.0
    assert by["RV"].hd95_mm == pytest.approx(penalty_mm(SHAPE, SPACING)) and by["RV"].pred_ml == 0.0
    fp = {m.structure: m for m in evaluate_pair(pred, gt_no_rv, SPACING)}["RV"]
    assert fp.status == "false_positive" and fp.assd_mm == pytest.approx(penalty_mm(SHAPE, SPACING))
    both = {m.structure: m for m in evaluate_pair(gt_no_rv, gt_no_rv, SPACING)}["RV"]
    assert (both.status, both.dice, both.hd95_mm, both.assd_mm) == ("both_empty", 1.0, 0.0, 0.0)


def test_evaluate_pair_rejects_bad_labels_and_shapes():
    bad = heart()
    bad[0, 0, 0] = 7
    with pytest.raises(InputError, match="outside 0..3"):
        evaluate_pair(bad, heart(), SPACING)
    with pytest.raises(InputError, match=r"prediction shape \(z, y, x\) = \(3, .*differs from GT shape \(z, y, x\)"):
        evaluate_pair(heart()[:3], heart(), SPACING)


def _case(lab: np.ndarray, case_id: str, patient: str, phase: str | None) -> Case:
    return Case(image=np.zeros(SHAPE, np.float32), spacing=SPACING, affine=np.eye(4), case_id=case_id,
                patient=patient, label=lab, phase=phase)


def test_evaluate_cases_summary_and_clinical():
    pairs = []
    for p, shift in (("p1", 0), ("p2", 1)):
        pairs.append((_case(heart(5, shift), f"{p}_ED", p, "ED"), _case(heart(5), f"{p}_ED", p, "ED")))
        pairs.append((_case(heart(3, shift), f"{p}_ES", p, "ES"), _case(heart(3), f"{p}_ES", p, "ES")))
    res = evaluate_cases(pairs)
    assert len(res.per_case) == 12
    assert res.summary["LV"]["n"] == 4 and res.summary["LV"]["n_missed"] == 0
    assert res.summary["mean"]["dice_mean"] == pytest.approx(
        np.mean([res.summary[s]["dice_mean"] for s in ("LV", "Myo", "RV")]))
    assert list(res.clinical["patient"]) == ["p1", "p2"]
    row = res.clinical.iloc[0]
    assert row["LV_EDV_ml_gt"] == pytest.approx(2 * 100 * 4.8 / 1000)
    assert row["LV_EF_pct_gt"] == pytest.approx(100 * (1 - 36 / 100))
    assert row["LV_EF_pct_pred"] == pytest.approx(row["LV_EF_pct_gt"])  # shifts keep the volumes
    assert res.agreement["LV_EF_pct"].n == 2 and res.agreement["LV_EF_pct"].bias == pytest.approx(0.0)
    with pytest.raises(InputError, match="no label map"):
        evaluate_cases([(_case(heart(), "a", "a", None).with_label(None), _case(heart(), "a", "a", None))])


def test_evaluate_folders_acdc_layout(tmp_path: Path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for p in ("patient001", "patient002"):
        write(gt_dir / p / f"{p}_frame01.nii.gz", heart(5))  # an image beside the labels: not GT
        write(gt_dir / p / f"{p}_frame01_gt.nii.gz", heart(5))
        write(gt_dir / p / f"{p}_frame12_gt.nii.gz", heart(3))
    write(pred_dir / "patient001_frame01.nii.gz", heart(5, 1))
    write(pred_dir / "patient001_frame12.nii.gz", heart(3))
    write(pred_dir / "patient002_frame01.nii.gz", heart(5))  # patient002 frame12 has no prediction
    write(pred_dir / "stray.nii.gz", heart(5))
    res = evaluate_folders(pred_dir, gt_dir)

    assert sorted(res.per_case["case_id"].unique()) == ["patient001_frame01", "patient001_frame12",
                                                       "patient002_frame01"]
    assert [Path(m).name for m in res.missing_predictions] == ["patient002_frame12_gt.nii.gz"]
    assert [Path(m).name for m in res.unmatched_predictions] == ["stray.nii.gz"]
    phases = res.per_case.drop_duplicates("case_id").set_index("case_id")["phase"]
    assert phases["patient001_frame01"] == "ED" and phases["patient001_frame12"] == "ES"  # larger GT LV = ED
    assert phases["patient002_frame01"] is None or (isinstance(phases["patient002_frame01"], float))
    assert list(res.clinical["patient"]) == ["patient001"]
    lv = res.per_case[(res.per_case["case_id"] == "patient001_frame01") & (res.per_case["structure"] == "LV")]
    assert lv["dice"].iloc[0] == pytest.approx(9 / 10) and lv["hd95_mm"].iloc[0] == pytest.approx(0.8)

    paths = res.save(tmp_path / "out")
    summary = json.loads(paths["summary.json"].read_text(encoding="utf-8"))
    assert summary["n_volumes"] == 3 and len(summary["missing_predictions"]) == 1
    agree = json.loads(paths["agreement.json"].read_text(encoding="utf-8"))  # strict JSON: NaN written as null
    assert agree["LV_EF_pct"]["n"] == 1 and agree["LV_EF_pct"]["sd"] is None
    assert paths["per_case.csv"].read_text(encoding="utf-8").splitlines()[0] == (
        "case_id,patient,phase,structure,dice,hd95_mm,assd_mm,status,pred_ml,gt_ml")
    assert "LV_EF_pct_pred" in paths["clinical.csv"].read_text(encoding="utf-8")

    buf = io.StringIO()
    render_table(res, Console(file=buf, width=120))
    text = buf.getvalue()
    assert "HD95 mm" in text and "LV_EF_pct" in text and "1 GT without prediction" in text


def test_evaluate_folders_plain_names_and_explicit_phase(tmp_path: Path):
    write(tmp_path / "gt" / "sub1_ED.nii.gz", heart(5))
    write(tmp_path / "gt" / "sub1_ES.nii.gz", heart(3))
    write(tmp_path / "pred" / "sub1_ED.nii.gz", heart(5))
    write(tmp_path / "pred" / "sub1_ES.nii.gz", heart(3))
    res = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["LV"]["dice_mean"] == 1.0 and not res.missing_predictions
    assert res.clinical.iloc[0]["LV_EF_pct_pred"] == pytest.approx(64.0)


def test_evaluate_folders_errors(tmp_path: Path):
    write(tmp_path / "gt" / "a_gt.nii.gz", heart())
    write(tmp_path / "pred" / "a.nii.gz", heart()[:, :20])
    with pytest.raises(InputError) as err:
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert "a.nii.gz" in str(err.value) and "a_gt.nii.gz" in str(err.value)

    bad = heart()
    bad[0, 0, 0] = 9
    write(tmp_path / "pred" / "a.nii.gz", bad)
    with pytest.raises(InputError, match="outside 0..3"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    with pytest.raises(InputError, match="no prediction"):
        evaluate_folders(tmp_path / "gt", tmp_path / "pred")  # no names match
    with pytest.raises(InputError, match="does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "gt")


def test_evaluate_folders_refuses_a_prediction_on_a_shifted_grid(tmp_path: Path):
    from cmrseg.io.nifti import write_nifti

    affine = np.diag([SPACING[2], SPACING[1], SPACING[0], 1.0])
    shifted = affine.copy()
    shifted[0, 3] = 20.0  # the same voxels, 20 mm to the side
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    write_nifti(heart(), affine, tmp_path / "gt" / "case1.nii.gz")
    write_nifti(heart(), shifted, tmp_path / "pred" / "case1.nii.gz")
    with pytest.raises(InputError, match="another grid than its ground truth: origin shifted by 20.0 mm"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    write_nifti(heart(), affine, tmp_path / "pred" / "case1.nii.gz")
    assert evaluate_folders(tmp_path / "pred", tmp_path / "gt").summary["mean"]["dice_mean"] == 1.0


def test_evaluate_folders_follows_symlinked_patient_folders(tmp_path: Path):
    from cmrseg.io.nifti import write_nifti

    affine = np.diag([SPACING[2], SPACING[1], SPACING[0], 1.0])
    (tmp_path / "real").mkdir()
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    write_nifti(heart(), affine, tmp_path / "real" / "case1_gt.nii.gz")
    (tmp_path / "gt" / "patient1").symlink_to(tmp_path / "real", target_is_directory=True)
    write_nifti(heart(), affine, tmp_path / "pred" / "case1.nii.gz")
    assert evaluate_folders(tmp_path / "pred", tmp_path / "gt").summary["mean"]["dice_mean"] == 1.0
