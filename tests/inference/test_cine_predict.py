"""Cine prediction end to end: 4D NIfTI and DICOM cines through the Python API and ``cmrseg predict`` (4D label map
on the input's grid and header, volume curve CSV/PNG, clinical JSON, console summary), frame choices, output
names that would collide, and cines in a cohort (frames listed, ED/ES from the curve in the subject table)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.data.phantom import write_cine_phantom
from cmrseg.inference.cine import parse_frames, predict_cine_file
from cmrseg.inference.predictor import CinePrediction, Predictor
from cmrseg.io.cine import PhaseHint, read_cine

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from iosynth import write_dicom_series  # noqa: E402

GRID = {"shape": (5, 72, 72), "spacing": (8.0, 2.0, 2.0)}


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    """An untrained tiny U-Net (the labels it gives do not matter: wiring, shapes and headers are tested)."""
    from cmrseg.config import load_config
    from cmrseg.models.registry import create_model

    torch.manual_seed(0)
    cfg = load_config(None, ["model.params={features: [4, 8]}", "data.preprocess.fov_px=64",
                             "data.preprocess.target_spacing=2.5"])
    return Predictor(create_model(cfg.model), cfg.data.preprocess, threads=1)


@pytest.fixture
def no_checkpoint(monkeypatch, predictor):
    """``-c anything`` loads the tiny predictor (no training, no checkpoint file)."""
    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(lambda cls, path, **kw: predictor))


@pytest.fixture(scope="module")
def cine_phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cine") / "patient001"
    img, gt, ph = write_cine_phantom(folder, seed=2, n_frames=10, name="patient001", rr_ms=700.0, **GRID)
    return img, gt, ph


def _oracle(monkeypatch, predictor, gt_path):
    """Make the predictor return the ground-truth label maps of the cine phantom."""
    gt = np.transpose(np.asarray(nib.load(str(gt_path)).dataobj), (3, 2, 1, 0))

    def predict_cine(cine, frames=None, group=8):
        frames = list(range(cine.n_frames)) if frames is None else list(frames)
        labels = np.zeros(gt.shape, np.uint8)
        labels[frames] = gt[frames]
        return CinePrediction(labels, frames, 0.01)

    monkeypatch.setattr(predictor, "predict_cine", predict_cine)


def test_cine_numbers_from_ground_truth_labels(monkeypatch, predictor, cine_phantom, tmp_path):
    """Fed the true label maps, the pipeline finds the true ED/ES and EF (volumes in mL from the header)."""
    img, gt, ph = cine_phantom
    truth = ph.truth()
    _oracle(monkeypatch, predictor, gt)
    res = predict_cine_file(predictor, img, tmp_path)
    rep = json.loads(res.json_path.read_text())
    assert (rep["ED"]["time_index"], rep["ES"]["time_index"]) == (0, ph.es)
    assert abs(rep["LV_EF_pct"] - truth["LV_EF_pct_analytic"]) < 2.0
    assert rep["LV_EF_pct"] == pytest.approx(truth["LV_EF_pct"], abs=1e-3)
    assert rep["RV_EF_pct"] == pytest.approx(truth["RV_EF_pct"], abs=1e-3)
    assert rep["frame_interval_ms"] == pytest.approx(70.0) and rep["rate_unit"] == "mL/s"
    assert rep["ES"]["time_ms"] == pytest.approx(70.0 * ph.es) and rep["subject"] == "patient001"
    assert [p.name for p in res.paths] == ["patient001_4d.nii.gz", "patient001_4d_volumes.csv",
                                          "patient001_4d_volumes.png", "patient001_4d_clinical.json"]
    lines = res.csv_path.read_text().splitlines()
    assert len(lines) == 11 and lines[1].endswith(",ED")


def test_given_ed_es_are_used_and_reported(monkeypatch, predictor, cine_phantom, tmp_path):
    img, gt, ph = cine_phantom
    _oracle(monkeypatch, predictor, gt)
    (img.parent / "Info.cfg").write_text(f"ED: 2\nES: {ph.es + 1}\n", encoding="utf-8")
    try:
        res = predict_cine_file(predictor, img, tmp_path, frames="ed-es")
    finally:
        (img.parent / "Info.cfg").unlink()
    rep = res.report
    assert rep["frames_segmented"] == [2, ph.es + 1] and rep["ED"]["how"].startswith("Info.cfg")
    assert rep["LV_EDV_ml"] == pytest.approx(float(ph.volumes_ml["LV"][1]), abs=1e-3)
    assert rep["LV_peak_ejection_rate"] is None
    back = np.asarray(nib.load(str(res.labels_path)).dataobj)
    assert back.shape[3] == 10 and back[..., 0].max() == 0 and back[..., 1].max() == 3  # frame 1 left empty


def test_parse_frames():
    hint = PhaseHint(0, 7, "x")
    assert parse_frames("all", 4) == [0, 1, 2, 3]
    assert parse_frames("ed-es", 20, hint) == [0, 7]
    assert parse_frames("1, 3-5,3", 20) == [0, 2, 3, 4]
    from cmrseg.errors import InputError

    with pytest.raises(InputError, match="no ED/ES frames are given") as err:
        parse_frames("ed-es", 20, None, Path("c.nii.gz"))
    assert "--phases" in str(err.value) and "--frames all" in str(err.value)
    with pytest.raises(InputError, match="outside this cine's frames 1..20"):
        parse_frames("0,2", 20)
    with pytest.raises(InputError, match="'x' is not a frame number"):
        parse_frames("1,x", 20)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_cli_predict_cine_nifti(no_checkpoint, cine_phantom, tmp_path):
    img, _, ph = cine_phantom
    res = CliRunner().invoke(app, ["predict", str(img), "-o", str(tmp_path / "out"), "-c", "tiny.pt", "--threads", "1"])
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert "patient001: 10/10 frames x 5 slices" in out and "s per frame" in out and "LV EF" in out
    assert re.search(r"ED frame \d+, ES frame \d+", out) and "wrote 0 label map(s) and 1 cine(s)" in out
    pred, src = nib.load(str(tmp_path / "out" / "patient001_4d.nii.gz")), nib.load(str(img))
    assert pred.shape == src.shape == (72, 72, 5, 10)
    np.testing.assert_allclose(pred.affine, src.affine)
    assert (int(pred.header["qform_code"]), int(pred.header["sform_code"])) == (1, 1)
    assert pred.header.get_zooms()[3] == pytest.approx(70.0)
    for suffix in ("_volumes.csv", "_volumes.png", "_clinical.json"):
        assert (tmp_path / "out" / f"patient001_4d{suffix}").is_file()
    rep = json.loads((tmp_path / "out" / "patient001_4d_clinical.json").read_text())
    assert rep["n_frames"] == 10 and rep["seconds_per_frame"] > 0 and "qc_flags" in rep


def test_cli_predict_frames_list_and_refusals(no_checkpoint, cine_phantom, tmp_path):
    img, _, _ = cine_phantom
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(img), "-o", str(tmp_path / "a.nii.gz"), "-c", "x", "--frames", "1,4-5"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "a_clinical.json").read_text())
    assert rep["frames_segmented"] == [1, 4, 5] and "3/10 frames" in _flat(res.output)
    res = runner.invoke(app, ["predict", str(img), "-o", str(tmp_path / "b"), "-c", "x", "--frames", "ed-es"])
    assert res.exit_code == 2 and "no ED/ES frames are given" in _flat(res.output)
    assert str(img) in _flat(res.output) and not (tmp_path / "b").exists()


def test_cli_predict_dicom_cine(no_checkpoint, tmp_path):
    vol = np.random.default_rng(0).integers(0, 800, (4, 40, 36)).astype(np.uint16)
    write_dicom_series(tmp_path / "SCD01", vol, (8.0, 2.0, 2.0), trigger_times=(5.0, 45.0, 85.0, 125.0, 165.0),
                       trigger_offsets=(0.0, 3.0, 6.0, 9.0))
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "SCD01"), "-o", str(tmp_path / "out"), "-c", "x"])
    assert res.exit_code == 0, res.output
    assert "SCD01: 5/5 frames x 4 slices" in _flat(res.output)
    pred = nib.load(str(tmp_path / "out" / "SCD01.nii.gz"))
    assert pred.shape == (36, 40, 4, 5) and pred.header.get_zooms()[3] == pytest.approx(40.0)
    cine = read_cine(tmp_path / "SCD01")
    np.testing.assert_allclose(pred.affine, cine.affine, atol=1e-4)
    rep = json.loads((tmp_path / "out" / "SCD01_clinical.json").read_text())
    assert rep["frame_interval_source"].startswith("DICOM TriggerTime") and rep["rate_unit"] == "mL/s"


def test_cli_predict_mirrors_colliding_names(no_checkpoint, cine_phantom, tmp_path):
    """UK Biobank's <eid>/sa.nii.gz: every file has the same name, so the output tree mirrors the input's."""
    import shutil

    img, _, _ = cine_phantom
    for eid in ("1000001", "1000002"):
        (tmp_path / "ukbb" / eid).mkdir(parents=True)
        shutil.copy(img, tmp_path / "ukbb" / eid / "sa.nii.gz")
        shutil.copy(img, tmp_path / "ukbb" / eid / "seg_sa.nii.gz")  # UK Biobank's label maps: not inputs
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "ukbb"), "-o", str(tmp_path / "out"), "-c", "x",
                                   "--frames", "1-2"])
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert "1000001: 2/10 frames" in out and "1000002: 2/10 frames" in out
    for eid in ("1000001", "1000002"):
        assert (tmp_path / "out" / eid / "sa.nii.gz").is_file()
        assert (tmp_path / "out" / eid / "sa_clinical.json").is_file()
        assert not (tmp_path / "out" / eid / "seg_sa.nii.gz").exists()


def test_cohort_lists_cine_frames_and_finds_ed_es_from_the_curve(cine_phantom, tmp_path):
    from cmrseg.inference.cohort import build_tables, list_cohort

    img, _, ph = cine_phantom
    refs = list_cohort(img.parent)
    assert [r.case_id for r in refs] == [f"patient001_frame{t:02d}" for t in range(1, 11)]
    assert [r.time_index for r in refs] == list(range(10)) and all(r.phase is None for r in refs)
    assert [r.meta["time_ms"] for r in refs] == pytest.approx([70.0 * t for t in range(10)])  # from pixdim[4]
    case = refs[ph.es].load(with_label=False)
    assert case.shape == (5, 72, 72)

    lv = ph.volumes_ml["LV"]
    records = [{"case_id": r.case_id, "patient": "patient001", "phase": None, "frame": t + 1, "status": "ok",
                "LV_ml": lv[t], "Myo_ml": ph.volumes_ml["Myo"][t], "RV_ml": ph.volumes_ml["RV"][t], "qc_ok": True,
                "checkpoint_sha256": "abc", "cmrseg_version": "0"} for t, r in enumerate(refs)]
    _, subjects = build_tables(records)
    row = subjects.iloc[0]
    assert (row.ED_case, row.ES_case) == ("patient001_frame01", f"patient001_frame{ph.es + 1:02d}")
    assert row.LV_EF_pct == pytest.approx(ph.truth()["LV_EF_pct"], abs=1e-2)
    assert row.rate_unit == "mL/frame" and row.LV_peak_ejection_rate > 0
    assert "volume curve" in row.phases_from
    for t, rec in enumerate(records):
        rec["time_ms"] = 70.0 * t
    timed = build_tables(records)[1].iloc[0]
    assert timed.rate_unit == "mL/s" and timed.LV_peak_ejection_rate == pytest.approx(
        row.LV_peak_ejection_rate / 0.07, rel=1e-3)

    (img.parent / "Info.cfg").write_text(f"ED: 1\nES: {ph.es + 1}\n", encoding="utf-8")
    try:
        refs = list_cohort(img.parent)
    finally:
        (img.parent / "Info.cfg").unlink()
    assert refs[0].phase == "ED" and refs[ph.es].phase == "ES"
