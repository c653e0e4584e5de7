"""Agreement plots (correlation, Bland-Altman) and the pairing of a run's predictions with its dataset."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cmrseg.io import load_dataset
from cmrseg.io.nifti import write_nifti
from cmrseg.report import find_run_cases
from cmrseg.report.plots import bland_altman_svg, correlation_svg, paired_values


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def _clinical() -> pd.DataFrame:
    """10 patients: LV EDV over-estimated by exactly 2 mL; LV ESV exact but patient010 +30 mL; EF partly NaN."""
    gt = np.arange(10) * 10.0 + 50.0
    ef = np.linspace(30, 70, 10)
    return pd.DataFrame({"patient": [f"patient{i + 1:03d}" for i in range(10)],
                         "LV_EDV_ml_pred": gt + 2.0, "LV_EDV_ml_gt": gt,
                         "LV_ESV_ml_pred": gt + np.r_[np.zeros(9), 30.0], "LV_ESV_ml_gt": gt,
                         "LV_EF_pct_pred": np.r_[ef[:7] + 1.0, [np.nan] * 3], "LV_EF_pct_gt": ef})


def test_bland_altman_known_bias_limits_and_outlier() -> None:
    texts = _texts(bland_altman_svg(_clinical()))
    assert "LV EDV: bias 2.0, LoA 2.0 to 2.0 mL" in texts  # constant offset: SD 0
    # ESV differences 0 x 9 and 30: bias 3, SD sqrt(90) = 9.487, LoA 3 -/+ 18.59
    assert "LV ESV: bias 3.0, LoA -15.6 to 21.6 mL" in texts
    assert "p010" in texts and "p009" not in texts  # only the patient outside the limits is labelled
    assert "LV EF: bias 1.0, LoA 1.0 to 1.0 %" in texts  # 3 NaN pairs left out
    assert not any(t.startswith("RV") for t in texts)  # absent indices get no panel


def test_correlation_titles_and_self_contained_svg() -> None:
    svg = correlation_svg(_clinical())
    texts = _texts(svg)
    assert "LV EDV: r = 1.000, n = 10" in texts and "LV EF: r = 1.000, n = 7" in texts
    assert svg.startswith("<svg") and "http" not in svg and "<?xml" not in svg
    ids = re.findall(r'id="([^"]+)"', svg)
    assert ids and not set(ids) & set(re.findall(r'id="([^"]+)"', bland_altman_svg(_clinical())))  # salted ids


def test_plots_without_data() -> None:
    empty = pd.DataFrame({"patient": ["p1"], "LV_EF_pct_pred": [np.nan], "LV_EF_pct_gt": [50.0]})
    assert correlation_svg(empty) is None and bland_altman_svg(empty) is None
    p, g, names = paired_values(_clinical(), "LV_EF_pct")
    assert p.size == g.size == len(names) == 7 and names[-1] == "patient007"


def test_find_run_cases(phantom_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert "no predictions" in find_run_cases(run).notes[0]
    ref = load_dataset(phantom_root)[0]
    gt = ref.load()
    pred = np.where(gt.label == 1, 0, gt.label).astype(np.uint8)  # RV missed
    write_nifti(pred, gt.affine, run / "predictions" / f"{ref.case_id}.nii.gz")
    write_nifti(pred, gt.affine, run / "predictions" / "stranger_frame01.nii.gz")
    found = find_run_cases(run)  # no config.yaml: no dataset known
    assert len(found) == 0 and "not found" in found.notes[0] and "--data" in found.notes[0]
    (run / "config.yaml").write_text(f"data:\n  root: {phantom_root}\n", encoding="utf-8")
    found = find_run_cases(run)
    assert len(found) == 1 and "stranger_frame01" in found.notes[0]
    (case,) = list(found)
    assert case["case_id"] == ref.case_id and case["spacing"] == gt.spacing
    assert np.array_equal(case["pred"], pred) and np.array_equal(case["gt"], gt.label)
    assert case["image"].shape == pred.shape
    assert len(find_run_cases(run, data_root=tmp_path / "elsewhere")) == 0  # explicit root wins
