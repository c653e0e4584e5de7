"""Cohort inference on Ray: every case in the tables, failures isolated, resume, atomic outputs, manifest roots,
QC flags and clinical indices with known answers."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.errors import ConfigError, InputError
from cmrseg.inference.cohort import build_tables, plan_workers, read_manifest, run_cohort
from cmrseg.inference.qc import fragment_pct, subject_flags, volume_flags
from cmrseg.io import load_dataset

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny U-Net; with this seed it predicts LV over the whole field of view."""
    import torch

    from cmrseg.config import Config
    from cmrseg.checkpoint import save_checkpoint
    from cmrseg.models.registry import ModelConfig, create_model

    torch.manual_seed(1)
    cfg = Config.model_validate({"model": {"name": "unet", "params": {"features": [4, 8]}},
                                 "data": {"preprocess": {"fov_px": 96, "target_spacing": 2.5}}})
    path = tmp_path_factory.mktemp("cohort_ckpt") / "rand.pt"
    save_checkpoint(path, create_model(ModelConfig.model_validate(cfg.model.model_dump())), cfg.model_dump(mode="json"))
    return path


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp" in p.name]


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_cohort_tables_resume_and_atomic_outputs(ray_local, checkpoint, phantom_root, tmp_path) -> None:
    out = tmp_path / "out"
    refs = load_dataset(phantom_root)
    s = run_cohort(phantom_root, out, checkpoint, workers=2, chunk=3, progress=False)
    assert (s.n_cases, s.n_processed, s.n_failed, s.workers, s.threads) == (len(refs), len(refs), 0, 2, 1)
    res = pd.read_parquet(out / "results.parquet")
    assert list(res["case_id"]) == [r.case_id for r in refs]
    assert (res["status"] == "ok").all()
    assert pd.read_csv(out / "results.csv")["case_id"].tolist() == res["case_id"].tolist()
    for row in res.itertuples():  # volumes in the table are those of the label map written
        img = nib.load(out / row.output)
        lab = np.asarray(img.dataobj)
        assert img.shape == nib.load(phantom_root / row.patient / f"{row.case_id}.nii.gz").shape
        voxel_ml = float(np.prod(img.header.get_zooms()[:3])) / 1000
        assert row.LV_ml == pytest.approx((lab == 3).sum() * voxel_ml, rel=1e-4)
        assert row.LV_ml > 0 and row.RV_ml == 0 and row.Myo_ml == 0
        gt = np.asarray(nib.load(phantom_root / row.patient / f"{row.case_id}_gt.nii.gz").dataobj)
        assert row.Dice_LV == pytest.approx(2 * ((lab == 3) & (gt == 3)).sum() / ((lab == 3).sum() + (gt == 3).sum()),
                                            abs=1e-4)
        assert row.LV_ml > 500 and row.qc_flags == "implausible_LV_volume;empty_Myo;empty_RV" and not row.qc_ok
        assert len(row.checkpoint_sha256) == 64 and row.cmrseg_version
    subj = pd.read_parquet(out / "subjects.parquet")
    assert sorted(subj["patient"]) == sorted({r.patient for r in refs})
    for row in subj.itertuples():
        ed = res.set_index("case_id").loc[row.ED_case]
        es = res.set_index("case_id").loc[row.ES_case]
        assert (ed.phase, es.phase) == ("ED", "ES")
        assert row.LV_EF_pct == pytest.approx(100 * (ed.LV_ml - es.LV_ml) / ed.LV_ml, abs=1e-3)
        assert "LV_EF_out_of_range" in row.qc_flags  # same box at ED and ES: EF = 0 %
    assert _temp_files(out) == []

    labels, records = _mtimes(out / "labels"), _mtimes(out / "records")
    again = run_cohort(phantom_root, out, checkpoint, workers=2, progress=False)
    assert (again.n_skipped, again.n_processed, again.workers) == (len(refs), 0, 0)  # no worker even started
    assert _mtimes(out / "labels") == labels and _mtimes(out / "records") == records

    # a run killed after writing a label map but before its record, leaving a temporary file behind; and a
    # case whose reading kills the worker process (here: a loader calling sys.exit) in the same chunk
    victim = refs[3].case_id
    (out / "records" / f"{victim}.json").unlink()
    (out / "labels" / f".{victim}.nii.gz.x1y2.tmp.nii.gz").write_bytes(b"half written")
    crasher = replace(refs[0], case_id="zz_crash", patient="zz", phase=None, loader=sys.exit)
    resumed = run_cohort([*refs, crasher], out, checkpoint, workers=2, chunk=2, progress=False)
    assert (resumed.n_skipped, resumed.n_processed, resumed.workers, resumed.threads) == (len(refs) - 1, 2, 1, 2)
    assert [case for case, _ in resumed.failed] == ["zz_crash"]
    assert (out / "records" / f"{victim}.json").is_file() and _temp_files(out) == []
    changed = {k for k, v in _mtimes(out / "labels").items() if labels.get(k) != v}
    assert changed == {f"{victim}.nii.gz"}  # the victim, retried alone after the crash, is redone and ok
    table = pd.read_csv(out / "results.csv").set_index("case_id")
    assert len(table) == len(refs) + 1 and table.loc[victim, "status"] == "ok"
    assert "worker process died" in table.loc["zz_crash", "error"]


def test_cli_manifest_isolates_a_corrupt_case(ray_local, checkpoint, phantom_root, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    ed, es = (r for r in load_dataset(phantom_root) if r.patient == "patient002")
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("case_id,image,label,phase\n"
                        f"a_ED,{ed.image_path},{ed.label_path},ED\n"
                        f"broken,broken.nii.gz,,\n"
                        f"a_ES,{es.image_path},,es\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["cohort", str(manifest), "-o", str(out), "-c", str(checkpoint), "--data-root", str(data),
            "--data-root", str(phantom_root), "--workers", "2", "--chunk", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "broken" in res.output and "1 failed" in res.output
    table = pd.read_csv(out / "results.csv").set_index("case_id")
    assert list(table.index) == ["a_ED", "a_ES", "broken"]  # sorted by patient, then case id
    assert table.loc["broken", "status"] == "failed" and "broken.nii.gz" in table.loc["broken", "error"]
    assert (table.loc[["a_ED", "a_ES"], "status"] == "ok").all()
    assert table.loc["a_ED", "Dice_LV"] > 0 and np.isnan(table.loc["a_ES", "Dice_LV"])  # no label given for ES
    assert not (out / "labels" / "broken.nii.gz").exists() and _temp_files(out) == []
    subj = pd.read_csv(out / "subjects.csv")
    assert subj[["patient", "ED_case", "ES_case"]].values.tolist() == [["a", "a_ED", "a_ES"]]


def test_manifest_paths_must_stay_inside_the_data_roots(phantom_root, tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.nii.gz"
    outside.write_bytes(b"x")
    (root / "inside.nii.gz").write_bytes(b"x")
    (root / "link.nii.gz").symlink_to(outside)
    manifest = root / "m.csv"
    for image in ("../outside.nii.gz", str(outside), "link.nii.gz"):
        manifest.write_text(f"case_id,image\nc1,inside.nii.gz\nc2,{image}\n", encoding="utf-8")
        with pytest.raises(InputError, match="outside the data roots"):
            read_manifest(manifest)
    manifest.write_text("case_id,image\nc1,inside.nii.gz\n", encoding="utf-8")
    assert [r.image_path for r in read_manifest(manifest)] == [root / "inside.nii.gz"]
    # relative paths are taken from the first data root; a label outside it is refused as well
    manifest.write_text(f"case_id,image,label\nc1,patient002/patient002_frame01.nii.gz,{outside}\n", encoding="utf-8")
    with pytest.raises(InputError, match="label path"):
        read_manifest(manifest, [phantom_root])
    res = CliRunner().invoke(app, ["cohort", str(manifest), "-o", str(tmp_path / "o"), "-c", str(tmp_path / "x.pt"),
                                   "--data-root", str(phantom_root)])
    assert res.exit_code == 2 and "outside the data roots" in res.output
    manifest.write_text("case,image\nc1,inside.nii.gz\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['case_id'\]"):
        read_manifest(manifest)
    manifest.write_text("case_id,image\n../c1,inside.nii.gz\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot name an output file"):
        read_manifest(manifest)


def test_workers_never_oversubscribe_cores() -> None:
    assert plan_workers(16, None, 1000) == (16, 1)
    assert plan_workers(16, 3, 1000) == (3, 5)  # 15 threads on 16 cores
    assert plan_workers(8, 8, 2) == (2, 4)  # no idle replicas: their cores go to the others' threads
    with pytest.raises(ConfigError, match="at least 3 CPU cores"):
        plan_workers(2, 3, 10)


def test_qc_flags_known_answers() -> None:
    label = np.zeros((4, 20, 20), np.uint8)
    label[:, 2:8, 2:8] = 3  # 144 LV voxels
    label[1, 15:19, 15:19] = 3  # a separate 16-voxel piece: 16 / 160 = 10 %
    label[:, 10:13, 2:8] = 1  # RV in one piece
    frag = fragment_pct(label)
    assert frag == {"LV": pytest.approx(10.0), "Myo": 0.0, "RV": 0.0}
    assert volume_flags({"LV": 100.0, "Myo": 0.0, "RV": 2.0}, frag) == ["fragmented_LV", "empty_Myo",
                                                                        "implausible_RV_volume"]
    assert volume_flags({"LV": 100.0, "Myo": 90.0, "RV": 110.0}, {"LV": 4.9, "Myo": 0.0, "RV": 0.0}) == []
    ok = {"LV_EF_pct": 60.0, "RV_EF_pct": 50.0, "LV_EDV_ml": 150.0, "RV_EDV_ml": 160.0}
    assert subject_flags(ok) == []
    assert subject_flags({**ok, "LV_EF_pct": 8.0, "RV_EF_pct": -5.0}) == ["LV_EF_out_of_range", "RV_EF_out_of_range"]
    assert subject_flags({**ok, "LV_EF_pct": 86.0, "RV_EF_pct": 90.0}) == ["LV_EF_out_of_range"]
    assert subject_flags({**ok, "RV_EDV_ml": 30.0}) == ["RV_LV_ratio_out_of_range"]  # ratio 0.2
    assert subject_flags({**ok, "RV_EDV_ml": 600.0}) == []  # ratio 4.0: limits are inclusive
    assert subject_flags({**ok, "RV_EDV_ml": 601.0}) == ["RV_LV_ratio_out_of_range"]


def _rec(case_id: str, patient: str, phase: str, lv: float, myo: float, rv: float, status: str = "ok") -> dict:
    return {"case_id": case_id, "patient": patient, "phase": phase, "status": status, "LV_ml": lv, "Myo_ml": myo,
            "RV_ml": rv, "qc_ok": status == "ok", "checkpoint_sha256": "abc", "cmrseg_version": "0"}


def test_subject_table_pairs_ed_es_with_known_indices() -> None:
    records = [_rec("p1_ED", "p1", "ED", 100.0, 80.0, 110.0), _rec("p1_ES", "p1", "ES", 40.0, 82.0, 50.0),
               _rec("p2_ED", "p2", "ED", 100.0, 80.0, 110.0), _rec("p2_ES", "p2", "ES", 0, 0, 0, status="failed"),
               _rec("lge", "p3", None, 1.0, 1.0, 1.0)]
    results, subjects = build_tables(records)
    assert len(results) == 5 and list(subjects["patient"]) == ["p1", "p2"]  # p3 has no phases
    p1, p2 = subjects.iloc[0], subjects.iloc[1]
    assert (p1.LV_EDV_ml, p1.LV_ESV_ml, p1.LV_SV_ml, p1.LV_EF_pct) == (100.0, 40.0, 60.0, 60.0)
    assert p1.RV_EF_pct == pytest.approx(54.545, abs=1e-3)
    assert p1.LV_mass_g == pytest.approx(84.0)  # ED myocardium x 1.05 g/mL
    assert p1.qc_flags == "" and p1.qc_ok
    assert p2.qc_flags == "missing_ES" and not p2.qc_ok and np.isnan(p2.LV_EF_pct)


@pytest.mark.slow  # ~20 s: reads the 160 ACDC volumes
def test_qc_flags_no_acdc_expert_label() -> None:
    """The default limits flag predictions, not disease: none of ACDC's expert label pairs is flagged."""
    from testkit import SHARED_DATA

    from cmrseg.metrics.clinical import structure_volumes_ml

    if not (SHARED_DATA / "acdc").is_dir():
        pytest.skip("ACDC not available")
    records = []
    for ref in load_dataset(SHARED_DATA / "acdc"):
        case = ref.load()
        volumes = structure_volumes_ml(case.label, case.spacing)
        flags = volume_flags(volumes, fragment_pct(case.label))
        records.append({"case_id": ref.case_id, "patient": ref.patient, "phase": ref.phase, "status": "ok",
                        "qc_ok": not flags, **{f"{k}_ml": v for k, v in volumes.items()}})
    results, subjects = build_tables(records)
    assert len(subjects) == 80 and results["qc_ok"].all()
    assert subjects["qc_flags"].eq("").all(), subjects.loc[subjects["qc_flags"] != "", ["patient", "qc_flags"]]


def test_plan_workers_fixed_threads_never_oversubscribes() -> None:
    from cmrseg.errors import ConfigError
    from cmrseg.inference.cohort import plan_workers

    assert plan_workers(2, 1, 10, threads=1) == (1, 1)
    assert plan_workers(4, 2, 10, threads=2) == (2, 2)
    with pytest.raises(ConfigError, match="exceed"):
        plan_workers(2, 2, 10, threads=2)


def test_two_unphased_volumes_of_a_subject_get_ed_es_from_the_lv_volume() -> None:
    """An ACDC-style folder without patients.csv: each patient's two frames carry no phase; the subject table
    must not come out empty."""
    records = [_rec("p1_frame01", "p1", None, 100.0, 80.0, 110.0), _rec("p1_frame12", "p1", None, 40.0, 82.0, 50.0),
               _rec("p2_frame01", "p2", None, 30.0, 80.0, 40.0), _rec("p2_frame09", "p2", None, 90.0, 80.0, 120.0)]
    _, subjects = build_tables(records)
    assert list(subjects["patient"]) == ["p1", "p2"]
    p1, p2 = subjects.iloc[0], subjects.iloc[1]
    assert (p1.ED_case, p1.ES_case, p1.LV_EF_pct) == ("p1_frame01", "p1_frame12", 60.0)
    assert (p2.ED_case, p2.ES_case) == ("p2_frame09", "p2_frame01") and "LV volume" in p2.phases_from
