"""Fixtures: tiny synthetic datasets of every layout written to ``tmp_path`` (writers live in ``iosynth``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

if str(Path(__file__).parent) not in sys.path:  # so tests can `import iosynth` under any --import-mode
    sys.path.insert(0, str(Path(__file__).parent))

from iosynth import MNMS_CSV, image, label, write_dicom_series, write_nii  # noqa: E402


@pytest.fixture
def nii():
    """The :func:`write_nii` helper."""
    return write_nii


@pytest.fixture
def acdc_copy(tmp_path: Path) -> Path:
    """Our ACDC copy: patients.csv + 3 patients (one with ED after ES, like patient090)."""
    root = tmp_path / "acdc"
    rows = [("patient001", "train", "DCM", 1, 3), ("patient002", "val", "NOR", 1, 2),
            ("patient010", "train", "RV", 4, 2)]
    lines = ["patient,split,group,ed_frame,es_frame,spacing_x_mm,spacing_y_mm,spacing_z_mm"]
    for i, (pid, split, group, ed, es) in enumerate(rows):
        lines.append(f"{pid},{split},{group},{ed},{es},1.25,1.5,8.0")
        for frame in (ed, es):
            stem = root / pid / f"{pid}_frame{frame:02d}"
            write_nii(Path(f"{stem}.nii.gz"), image(i * 10 + frame))
            write_nii(Path(f"{stem}_gt.nii.gz"), label(), dtype=np.uint8)
            write_nii(Path(f"{stem}_scribble.nii.gz"), label(codes=(4, 1, 2, 3, 4)), dtype=np.uint8)
    (root / "patients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def acdc_download(tmp_path: Path) -> Path:
    """Official ACDC download: training/ (labelled, 4D cine) and testing/ (no gt)."""
    root = tmp_path / "database"
    pdir = root / "training" / "patient001"
    pdir.mkdir(parents=True)
    (pdir / "Info.cfg").write_text("ED: 1\nES: 3\nGroup: DCM\nHeight: 184.0\nNbFrame: 4\nWeight: 95.0\n", encoding="utf-8")
    cine = np.stack([image(t) for t in range(4)])
    write_nii(pdir / "patient001_4d.nii.gz", cine)
    for frame in (1, 3):
        write_nii(pdir / f"patient001_frame{frame:02d}.nii.gz", cine[frame - 1])
        write_nii(pdir / f"patient001_frame{frame:02d}_gt.nii.gz", label(), dtype=np.uint8)
    tdir = root / "testing" / "patient101"
    tdir.mkdir(parents=True)
    (tdir / "Info.cfg").write_text("ED: 1\nES: 2\nGroup: HCM\n", encoding="utf-8")
    for frame in (1, 2):
        write_nii(tdir / f"patient101_frame{frame:02d}.nii.gz", image(frame))
    return root


@pytest.fixture
def mscmr(tmp_path: Path) -> Path:
    """MS-CMRSeg copy: train/ with scribbles (subject2, subject13), val/ with manual labels (subject1)."""
    root = tmp_path / "mscmr"
    for sid in ("subject2", "subject13"):
        write_nii(root / "train" / sid / f"{sid}_DE.nii.gz", image() * 1000, dtype=np.int16)  # not all 0
        write_nii(root / "train" / sid / f"{sid}_DE_scribble.nii.gz", label(codes=(4, 1, 2, 3)), dtype=np.uint16)
    write_nii(root / "val" / "subject1" / "subject1_DE.nii.gz", image() * 1000, dtype=np.int16)
    write_nii(root / "val" / "subject1" / "subject1_DE_manual.nii.gz", label(codes=(0, 200, 500, 600)),
              dtype=np.int16)
    return root


@pytest.fixture
def mnms(tmp_path: Path) -> Path:
    """M&Ms: Training/Labeled/A1B2C3 (4D cine + 4D gt in M&Ms codes), Validation/D4E5F6 (no gt), CSV."""
    root = tmp_path / "mnms"
    cine = np.stack([image(t) for t in range(5)])
    gt = np.zeros(cine.shape, np.uint8)
    gt[0] = label(codes=(0, 1, 2, 3))  # ED (t=0), M&Ms codes: row 1 = LV, row 2 = Myo, row 3 = RV
    gt[3] = label(codes=(0, 3))  # ES (t=3): row 1 = RV
    d = root / "Training" / "Labeled" / "A1B2C3"
    write_nii(d / "A1B2C3_sa.nii.gz", cine)
    write_nii(d / "A1B2C3_sa_gt.nii.gz", gt, dtype=np.uint8)
    write_nii(root / "Validation" / "D4E5F6" / "D4E5F6_sa.nii.gz", cine)
    (root / "mnms_info.csv").write_text(MNMS_CSV, encoding="utf-8")
    return root


@pytest.fixture
def nnunet(tmp_path: Path) -> Path:
    """nnU-Net v2 raw dataset, ACDC naming (RV, MLV, LVC), two training cases and one test case."""
    root = tmp_path / "Dataset027_ACDC"
    spec = {"channel_names": {"0": "cineMRI"}, "labels": {"background": 0, "RV": 1, "MLV": 2, "LVC": 3},
            "numTraining": 2, "file_ending": ".nii.gz", "name": "ACDC"}
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps(spec), encoding="utf-8")
    for case in ("patient001_frame01", "patient001_frame12"):
        write_nii(root / "imagesTr" / f"{case}_0000.nii.gz", image())
        write_nii(root / "labelsTr" / f"{case}.nii.gz", label(), dtype=np.uint8)
    write_nii(root / "imagesTs" / "patient101_frame01_0000.nii.gz", image())
    return root


@pytest.fixture
def dicom_writer():
    """The :func:`write_dicom_series` helper."""
    return write_dicom_series
