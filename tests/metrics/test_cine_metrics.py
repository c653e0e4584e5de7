"""Volume curves, ED/ES, EF, LV mass, peak rates and cine QC flags: known answers from the cine phantom and from
hand-made curves."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cmrseg.data.phantom import (cycle_contraction, make_cine_phantom, make_phantom_case, make_phantom_pair,
                                 write_cine_phantom)
from cmrseg.metrics.cine import (CineQCLimits, base_first, cine_report, coverage_qc, curve_from_volumes, find_ed_es,
                                 peak_rates, plot_curve, volume_curve, write_curve_csv, write_report_json)


@pytest.fixture(scope="module")
def phantom():
    return make_cine_phantom(seed=3, n_frames=20, rr_ms=800.0)


def _curve(lv, rv=None, myo=None, times=None):
    n = len(lv)
    vols = {"LV": lv, "RV": rv if rv is not None else [0.5 * v for v in lv], "Myo": myo or [100.0] * n}
    return curve_from_volumes(range(n), vols, n, times)


def test_cine_phantom_ground_truth_gives_known_ed_es_and_ef(phantom):
    truth = phantom.truth()
    assert phantom.image.shape[0] == 20 and phantom.label.shape == phantom.image.shape
    assert (truth["ed_time_index"], truth["es_time_index"]) == (0, phantom.es)
    curve = volume_curve(phantom.label, phantom.spacing, times_ms=np.arange(20) * phantom.frame_ms)
    for name in ("LV", "Myo", "RV"):  # the curve code counts the same voxels the phantom reports
        np.testing.assert_allclose(curve.volumes[name], phantom.volumes_ml[name], rtol=1e-9)
    rep = cine_report(curve)
    assert (rep["ED"]["time_index"], rep["ES"]["time_index"]) == (0, phantom.es)  # exactly
    assert "LV blood-pool volume curve" in rep["ED"]["how"]
    assert abs(rep["LV_EF_pct"] - truth["LV_EF_pct_analytic"]) < 2.0  # voxels vs exact cross-sections
    assert rep["LV_EF_pct"] == pytest.approx(truth["LV_EF_pct"], abs=1e-3)
    assert rep["RV_EF_pct"] == pytest.approx(truth["RV_EF_pct"], abs=1e-3)
    assert rep["LV_mass_g"] == pytest.approx(truth["LV_mass_g"], abs=1e-3)
    assert rep["LV_EDV_ml"] - rep["LV_ESV_ml"] == pytest.approx(rep["LV_SV_ml"], abs=1e-3)
    assert rep["rate_unit"] == "mL/s" and rep["frame_interval_ms"] == pytest.approx(40.0)
    lv = phantom.volumes_ml["LV"]  # steepest fall in systole and rise in diastole, per second
    assert rep["LV_peak_ejection_rate"] == pytest.approx(max(-np.diff(lv[: phantom.es + 1])) / 0.04, abs=1e-2)
    assert rep["LV_peak_filling_rate"] == pytest.approx(max(np.diff(lv[phantom.es:])) / 0.04, abs=1e-2)
    assert "no_clear_ED_ES" not in rep["qc_flags"] and "LV_volume_jump" not in rep["qc_flags"]


def test_cine_phantom_ends_are_the_ed_es_pair():
    """Contraction 0 and 1 render exactly the phantom's ED and ES frames (same anatomy, same labels)."""
    c = cycle_contraction(20, 7)
    assert c[0] == 0.0 and c[7] == 1.0 and np.argmax(c) == 7 and np.all(c[1:] > 0)
    cine = make_cine_phantom(seed=5, n_frames=20)
    ed, es = make_phantom_pair(5)
    np.testing.assert_array_equal(cine.label[0], ed.label)
    np.testing.assert_array_equal(cine.label[cine.es], es.label)


def test_write_cine_phantom_files(tmp_path):
    import nibabel as nib

    img, lab, ph = write_cine_phantom(tmp_path, seed=1, n_frames=6, shape=(4, 64, 64), spacing=(8.0, 2.0, 2.0))
    assert img.name == "phantom001_4d.nii.gz" and lab.name == "phantom001_4d_gt.nii.gz"
    hdr = nib.load(str(img)).header
    assert nib.load(str(img)).shape == (64, 64, 4, 6) and hdr.get_zooms()[3] == pytest.approx(ph.frame_ms)
    truth = json.loads((tmp_path / "phantom001_truth.json").read_text())
    assert truth["es_time_index"] == ph.es and len(truth["volumes_ml"]["LV"]) == 6


def test_ed_es_from_the_curve_and_given():
    curve = _curve([150, 140, 110, 80, 62, 60, 75, 100, 125, 145])
    assert find_ed_es(curve) == (0, 5)
    rep = cine_report(curve)
    assert (rep["LV_EDV_ml"], rep["LV_ESV_ml"], rep["LV_SV_ml"], rep["LV_EF_pct"]) == (150.0, 60.0, 90.0, 60.0)
    assert rep["LV_mass_g"] == pytest.approx(105.0) and rep["curve_extremes"] == {"ED_time_index": 0,
                                                                                    "ES_time_index": 5}
    given = cine_report(curve, ed=9, es=4, phase_source="Info.cfg (ED: 10, ES: 5)")
    assert given["ED"]["how"] == "Info.cfg (ED: 10, ES: 5)" and given["LV_EDV_ml"] == 145.0
    assert any("differ from the LV curve" in n for n in given["notes"]) and given["qc_flags"] == []  # 1 frame off
    far = cine_report(curve, ed=3, es=5)
    assert "ED_ES_differ_from_curve" in far["qc_flags"]


def test_peak_rates_per_second_per_frame_and_around_the_cycle():
    lv = [100.0, 80.0, 50.0, 40.0, 60.0, 90.0]
    assert peak_rates(_curve(lv), "LV", 0, 3) == (30.0, 30.0)  # mL per frame: 80 -> 50, and 60 -> 90
    timed = _curve(lv, times=[0, 50, 100, 150, 200, 250])
    assert peak_rates(timed, "LV", 0, 3) == pytest.approx((600.0, 600.0))  # mL/s
    rep = cine_report(_curve(lv))
    assert rep["rate_unit"] == "mL/frame" and any("rates are per frame" in n for n in rep["notes"])
    # ED after ES (like ACDC patient090): systole runs across the end of the cine into its start
    wrapped = [50.0, 40.0, 60.0, 90.0, 100.0, 70.0]  # ED = 4, ES = 1
    assert peak_rates(_curve(wrapped, times=[0, 50, 100, 150, 200, 250]), "LV", 4, 1) == pytest.approx((600.0, 600.0))
    partial = curve_from_volumes([0, 3], {"LV": [100.0, 40.0], "RV": [50.0, 20.0], "Myo": [90.0, 90.0]}, 6)
    assert peak_rates(partial, "LV", 0, 3) is None
    rep = cine_report(partial)
    assert rep["LV_peak_ejection_rate"] is None and rep["LV_EF_pct"] == 60.0
    assert "over the 2 segmented frames" in rep["ED"]["how"]


def test_qc_flags_known_answers():
    flat = cine_report(_curve([100.0, 98.0, 96.0, 95.0, 97.0, 99.0]))
    assert "no_clear_ED_ES" in flat["qc_flags"] and "5.0 %" in " ".join(flat["notes"])
    spike = [150, 140, 110, 80, 62, 60, 75, 100, 125, 145]
    spike[7] = 40  # a frame whose LV collapses (a missed slice), 60 mL below both neighbours
    rep = cine_report(_curve(spike, rv=[70.0] * 10))
    assert "LV_volume_jump" in rep["qc_flags"] and "RV_volume_jump" not in rep["qc_flags"]
    assert any("frame(s) 8 (40.0 mL, neighbours 75.0 / 125.0 mL)" in n for n in rep["notes"])
    smooth = cine_report(_curve([150, 140, 110, 80, 62, 60, 75, 100, 125, 145]))
    assert smooth["qc_flags"] == []  # the ES minimum of a smooth curve is no jump
    assert cine_report(_curve(spike), limits=CineQCLimits(jump=0.5))["qc_flags"] == []


def test_a_coarse_cine_is_not_flagged_for_its_own_ed_and_es_but_a_collapse_is():
    coarse = [150.0, 100.0, 60.0, 90.0, 130.0, 145.0]  # 6 frames: ES lies 30 mL (20 % of ED) below both neighbours
    assert cine_report(_curve(coarse))["qc_flags"] == []
    assert "LV_volume_jump" in cine_report(_curve(coarse), limits=CineQCLimits(jump_frames=6))["qc_flags"]
    collapse = [150.0, 120.0, 80.0, 10.0, 110.0, 145.0]  # a frame 70 mL (47 %) below both neighbours
    assert "LV_volume_jump" in cine_report(_curve(collapse))["qc_flags"]


def _coverage(label, spacing):
    curve = volume_curve([label], spacing)
    return coverage_qc(curve.lv_slice_ml[0], curve.rv_slice_ml[0], curve.slice_mm)[0]


@pytest.mark.parametrize("seed", range(8))
def test_coverage_flags_on_complete_and_truncated_phantom_stacks(seed):
    """An 8-slice phantom covers its LV from base to apex: no flag (the old rule, LV in the first slice, flagged
    every one). Without its 3 apical slices the stack ends mid-ventricle: apex flag; without its 3 basal slices
    it starts below the widest section and spans less than the LV's width: base flag."""
    ed = make_phantom_case(seed, "ED", shape=(8, 160, 160), spacing=(8.0, 1.5, 1.5))
    assert _coverage(ed.label, ed.spacing) == []
    assert _coverage(ed.label[:-3], ed.spacing) == ["apex_possibly_missing"]
    assert _coverage(ed.label[3:], ed.spacing) == ["base_possibly_missing"]
    # the stack's order does not matter: the base is found from where the LV and RV blood pools lie
    assert _coverage(ed.label[::-1][3:], ed.spacing) == ["apex_possibly_missing"]
    assert _coverage(ed.label[::-1][:-3], ed.spacing) == ["base_possibly_missing"]


def test_coverage_flags_known_answers():
    """Hand-made per-slice LV volumes (slice 10 mm, so 1 mL = 100 mm2): the thresholds act where CineQCLimits
    says."""
    lv = np.array([16.0, 20.0, 18.0, 12.0, 2.0])  # mL: base at 80 % of the widest, apex tapering to 10 %
    rv = np.array([8.0, 6.0, 4.0, 1.0, 0.0])
    assert coverage_qc(lv, rv, 10.0) == ([], [])
    flags, notes = coverage_qc(lv[:-1], rv[:-1], 10.0)  # the last slice holds 12 / 20 of the widest
    assert flags == ["apex_possibly_missing"] and "60 %" in notes[0] and "last slice" in notes[0]
    assert coverage_qc(lv[:-1], rv[:-1], 10.0, CineQCLimits(apex_area=0.65))[0] == []
    # widest section (2000 mm2, 50 mm across) in the first slice, 40 mm covered: 0.79 x as long as wide
    flags, notes = coverage_qc(lv[1:], rv[1:], 10.0)
    assert flags == ["base_possibly_missing"] and "first slice" in notes[0] and "100 %" in notes[0]
    assert "only 40 mm" in notes[0] and "0.79 x" in notes[0] and "(50 mm" in notes[0]
    assert coverage_qc(lv[1:], rv[1:], 10.0, CineQCLimits(base_length_ratio=0.75))[0] == []
    assert coverage_qc(lv[1:], rv[1:], 16.0)[0] == []  # 64 mm over a narrower 40 mm section: long enough
    assert base_first(lv, rv) and not base_first(lv[::-1], rv[::-1])
    flags, notes = coverage_qc(lv[::-1][1:], rv[::-1][1:], 10.0)  # apex first, its apical slice dropped
    assert flags == ["apex_possibly_missing"] and "first slice" in notes[0]


def test_cine_report_flags_a_truncated_apex_at_ed():
    cine = make_cine_phantom(seed=1, n_frames=4, shape=(8, 160, 160), spacing=(8.0, 1.5, 1.5))
    whole = cine_report(volume_curve(cine.label, cine.spacing), limits=CineQCLimits(jump=1.0))
    assert whole["qc_flags"] == []
    cut = cine_report(volume_curve(cine.label[:, :-3], cine.spacing), limits=CineQCLimits(jump=1.0))
    assert cut["qc_flags"] == ["apex_possibly_missing"]
    assert any(n.startswith("at ED, the LV blood pool still covers") for n in cut["notes"])


@pytest.mark.slow
def test_coverage_flag_rates_on_acdc_ground_truth():
    """Measured rates (see CineQCLimits): none of the 80 ED expert label maps of ACDC (train + val) raises a
    coverage flag, one of the 80 ES maps (patient053, apical slice 57 %); the old rule flagged 77 and 65."""
    from pathlib import Path

    from cmrseg.io import load_dataset

    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "acdc"
    if not root.is_dir():
        pytest.skip(f"{root} not available")
    flagged = {"ED": [], "ES": []}
    for ref in load_dataset(root):
        case = ref.load()
        if _coverage(case.label, case.spacing):
            flagged[case.phase].append(case.case_id)
    assert flagged == {"ED": [], "ES": ["patient053_frame12"]}


def test_curve_csv_png_json(tmp_path, phantom):
    curve = volume_curve(phantom.label, phantom.spacing, times_ms=np.arange(20) * phantom.frame_ms)
    rep = cine_report(curve)
    path = write_curve_csv(curve, tmp_path / "v.csv", rep["ED"]["time_index"], rep["ES"]["time_index"])
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert len(rows) == 20 and rows[0]["phase"] == "ED" and rows[phantom.es]["phase"] == "ES"
    assert float(rows[3]["LV_ml"]) == pytest.approx(phantom.volumes_ml["LV"][3], abs=1e-3)
    assert float(rows[3]["time_ms"]) == pytest.approx(120.0)
    png = plot_curve(curve, tmp_path / "v.png", rep, title="phantom")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = json.loads(write_report_json(rep, tmp_path / "r.json").read_text())
    assert back["LV_EF_pct"] == rep["LV_EF_pct"] and back["ES"]["frame"] == phantom.es + 1
