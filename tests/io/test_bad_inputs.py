"""Bad inputs, table-driven: every row builds one broken file/folder in ``tmp_path``, hands it to a Python API
and expects an :class:`InputError` that names the offending file, says what is wrong (the expected substring)
and what to do (a hint). A few rows also go through the CLI (exit code 2, file named, no output written).

Add a case by adding a row to :data:`CASES`: ``(id, builder, api, expected substring)``. A builder writes the
input and returns ``(input given to the API, file the message must name)``.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest
import torch
from iosynth import SPACING, image, label, write_dicom_series, write_nii
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.errors import InputError
from cmrseg.io import CaseRef, load_dataset, read_dicom_series, read_volume, write_nifti
from cmrseg.metrics import evaluate_folders

Built = tuple[Path, Path]  # (what the API is given, the file or folder its error must name)
IMG = "img.nii.gz"  # image written beside bad label maps by the ``label`` API


# ---- builders: each writes one bad input under ``t`` (a fresh folder) -------------------------------------------

def _raw_nii(path: Path, data_xyz: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write ``data`` in NIfTI axis order as is (any dimensionality)."""
    nib.save(nib.Nifti1Image(data_xyz, np.diag([1.25, 1.5, 8.0, 1.0]) if affine is None else affine), str(path))
    return path


def _same(path: Path) -> Built:
    return path, path


def nii_2d(t: Path) -> Built:
    return _same(_raw_nii(t / "slice.nii.gz", np.random.default_rng(0).random((5, 6)).astype(np.float32)))


def nii_4d(t: Path) -> Built:
    return _same(write_nii(t / "cine.nii.gz", np.stack([image(i) for i in range(3)])))


def nii_5d(t: Path) -> Built:
    return _same(_raw_nii(t / "five.nii.gz", np.random.default_rng(0).random((5, 6, 3, 2, 2)).astype(np.float32)))


def _with_value(value: float, name: str) -> Callable[[Path], Built]:
    def build(t: Path) -> Built:
        img = image()
        img[1, 2, 3] = value
        return _same(write_nii(t / name, img))
    return build


def _with_pixdim(pixdim: tuple[float, float, float], name: str) -> Callable[[Path], Built]:
    def build(t: Path) -> Built:
        path = write_nii(t / name, image())
        with gzip.open(path, "rb") as fh:  # pixdim[1..3] (x, y, z) live at byte 80 of the header
            raw = bytearray(fh.read())
        raw[80:92] = np.asarray(pixdim, "<f4").tobytes()
        with gzip.open(path, "wb") as fh:
            fh.write(bytes(raw))
        return _same(path)
    return build


def truncated_gz(t: Path) -> Built:
    path = write_nii(t / "trunc.nii.gz", image(shape=(8, 40, 40)))
    path.write_bytes(path.read_bytes()[:-200])
    return _same(path)


def truncated_nii(t: Path) -> Built:
    path = write_nii(t / "trunc.nii", image(shape=(8, 40, 40)))
    path.write_bytes(path.read_bytes()[:1000])  # header intact, voxels cut
    return _same(path)


def gzip_not_nifti(t: Path) -> Built:
    path = t / "junk.nii.gz"
    path.write_bytes(gzip.compress(b"PK\x03\x04 a zip file, not a NIfTI header" * 20))
    return _same(path)


def empty_file(t: Path) -> Built:
    (t / "empty.nii.gz").touch()
    return _same(t / "empty.nii.gz")


def text_named_niigz(t: Path) -> Built:
    (t / "notes.nii.gz").write_text("patient 7: scan repeated, see PACS\n", encoding="utf-8")
    return _same(t / "notes.nii.gz")


def text_named_nii(t: Path) -> Built:
    (t / "notes.nii").write_text("patient 7: scan repeated, see PACS\n" * 20, encoding="utf-8")
    return _same(t / "notes.nii")


def folder_named_nii(t: Path) -> Built:
    (t / "vol.nii.gz").mkdir()
    (t / "vol.nii.gz" / "x.txt").write_text("x", encoding="utf-8")
    return _same(t / "vol.nii.gz")


def missing_path(t: Path) -> Built:
    return _same(t / "nope" / "gone.nii.gz")


def unsupported_suffix(t: Path) -> Built:
    (t / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return _same(t / "scan.png")


def unreadable(t: Path) -> Built:
    path = write_nii(t / "locked.nii.gz", image())
    path.chmod(0)
    return _same(path)


def _header_shape(shape: tuple[int, ...], name: str) -> Callable[[Path], Built]:
    """A valid header that claims ``shape`` (x, y, z) followed by only 64 bytes of data."""
    def build(t: Path) -> Built:
        hdr = nib.Nifti1Header()
        hdr.set_data_dtype(np.float32)
        hdr.set_data_shape(shape)
        hdr.set_zooms((1.25, 1.5, 8.0))
        hdr["vox_offset"] = 352
        with gzip.open(t / name, "wb") as fh:
            fh.write(hdr.binaryblock + b"\0" * 4 + b"\0" * 64)
        return _same(t / name)
    return build


def constant_image(t: Path) -> Built:
    return _same(write_nii(t / "blank.nii.gz", np.full((3, 6, 5), 12.0, np.float32)))


def empty_folder(t: Path) -> Built:
    (t / "empty").mkdir()
    return _same(t / "empty")


def folder_without_images(t: Path) -> Built:
    (t / "docs").mkdir()
    (t / "docs" / "readme.txt").write_text("no images here", encoding="utf-8")
    return _same(t / "docs")


# label maps, read with an image ``img.nii.gz`` beside them (API ``label``)

def _label(lab: np.ndarray | Callable[[], np.ndarray], dtype, affine: np.ndarray | None = None,
           name: str = "img_gt.nii.gz") -> Callable[[Path], Built]:
    def build(t: Path) -> Built:
        write_nii(t / IMG, image())
        arr = lab() if callable(lab) else lab
        if affine is None:
            return _same(write_nii(t / name, arr, dtype=dtype))
        return _same(_raw_nii(t / name, np.transpose(arr, (2, 1, 0)).astype(dtype), affine))
    return build


def _fractional() -> np.ndarray:
    return label().astype(np.float32) * 0.5 + 0.25


def _negative() -> np.ndarray:
    lab = label().astype(np.int16)
    lab[0, 0, 0] = -1
    return lab


def _nan_label() -> np.ndarray:
    lab = label().astype(np.float32)
    lab[0, 0, 0] = np.nan
    return lab


def label_corrupt(t: Path) -> Built:
    _, lab = _label(label(), np.uint8)(t)
    lab.write_bytes(lab.read_bytes()[:60])  # gzip stream cut inside the header
    return _same(lab)


FLIPPED_X = np.diag([-1.25, 1.5, 8.0, 1.0])
SHIFTED = np.array([[1.25, 0, 0, 5.0], [0, 1.5, 0, 0], [0, 0, 8.0, 0], [0, 0, 0, 1]])


# DICOM series (API ``dicom``)

def _vol(shape=(4, 6, 5)) -> np.ndarray:
    return np.random.default_rng(0).integers(1, 1000, shape).astype(np.uint16)


def dicom_missing_slice(t: Path) -> Built:
    write_dicom_series(t / "sax", _vol(), SPACING, slice_offsets=[0.0, 8.0, 24.0, 32.0])
    return _same(t / "sax")


def dicom_mixed_orientation(t: Path) -> Built:
    write_dicom_series(t / "sax", _vol((2, 6, 5)), SPACING, series_uid="1.2.3.4")
    write_dicom_series(t / "sax", _vol((2, 6, 5)), SPACING, series_uid="1.2.3.4", start_index=100,
                       iop=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0), origin=(10.0, -20.0, 46.0))
    return _same(t / "sax")


def dicom_no_pixel_spacing(t: Path) -> Built:
    paths = write_dicom_series(t / "sax", _vol(), SPACING, pixel_spacing=None)
    return t / "sax", paths[0].parent  # the message names the first file: its folder is in the path


def dicom_constant(t: Path) -> Built:
    write_dicom_series(t / "sax", np.full((4, 6, 5), 100, np.uint16), SPACING)
    return _same(t / "sax")


def dicom_single_file(t: Path) -> Built:
    paths = write_dicom_series(t / "sax", _vol(), SPACING)
    return _same(paths[0])


# dataset folders / manifests (API ``dataset``)

def _acdc(t: Path, csv_text: str | bytes) -> Built:
    root = t / "acdc"
    write_nii(root / "patient001" / "patient001_frame01.nii.gz", image())
    csv = root / "patients.csv"
    csv.write_bytes(csv_text if isinstance(csv_text, bytes) else csv_text.encode("utf-8"))
    return root, csv


def csv_missing_columns(t: Path) -> Built:
    return _acdc(t, "patient,split\npatient001,train\n")


def csv_frame_not_integer(t: Path) -> Built:
    return _acdc(t, "patient,ed_frame,es_frame\npatient001,one,12\n")


def csv_short_row(t: Path) -> Built:
    return _acdc(t, "patient,ed_frame,es_frame\npatient001,1\n")


def csv_missing_patient_folder(t: Path) -> Built:
    return _acdc(t, "patient,ed_frame,es_frame\npatient001,1,1\npatient002,1,2\n")


def csv_not_utf8(t: Path) -> Built:
    return _acdc(t, b"patient,ed_frame,es_frame\n\xff\xfe\x00\x81\x9c,1,2\n")


def nnunet_broken_json(t: Path) -> Built:
    root = t / "Dataset001_X"
    write_nii(root / "imagesTr" / "case_0000.nii.gz", image())
    (root / "dataset.json").write_text('{"labels": {"background": 0, ', encoding="utf-8")
    return root, root / "dataset.json"


def dataset_empty(t: Path) -> Built:
    (t / "data").mkdir()
    return _same(t / "data")


# checkpoints (API ``checkpoint``)

def ckpt_garbage(t: Path) -> Built:
    (t / "best.pt").write_bytes(b"this is not a checkpoint" * 10)
    return _same(t / "best.pt")


def ckpt_empty(t: Path) -> Built:
    (t / "best.pt").touch()
    return _same(t / "best.pt")


def ckpt_plain_state_dict(t: Path) -> Built:
    torch.save({"conv.weight": torch.zeros(2, 2)}, t / "best.pt")
    return _same(t / "best.pt")


# evaluation folders (API ``evaluate``: input is the prediction folder, GT in ``gt/``)

def _eval(pred: np.ndarray, gt: np.ndarray, bad: str) -> Callable[[Path], Built]:
    def build(t: Path) -> Built:
        p = write_nii(t / "pred" / "case1.nii.gz", pred, dtype=pred.dtype)
        g = write_nii(t / "gt" / "case1_gt.nii.gz", gt, dtype=gt.dtype)
        return t / "pred", p if bad == "pred" else g
    return build


def evaluate_pred_corrupt(t: Path) -> Built:
    pred, _ = _eval(label(), label(), "gt")(t)
    (pred / "case1.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return pred, pred / "case1.nii.gz"


APIS: dict[str, Callable[[Path], object]] = {
    "read_volume": read_volume,
    "label": lambda p: CaseRef("c", "p", p.parent / IMG, label_path=p).load(),
    "dicom": read_dicom_series,
    "dataset": lambda root: [ref.load() for ref in load_dataset(root)],
    "checkpoint": load_checkpoint,
    "evaluate": lambda pred: evaluate_folders(pred, pred.parent / "gt"),
}

CASES: list[tuple[str, Callable[[Path], Built], str, str]] = [
    # dimensionality
    ("2d", nii_2d, "read_volume", "expected a 3D volume, got 2D data, shape (x, y) = ("),
    ("4d_where_3d_expected", nii_4d, "read_volume", "expected a 3D volume, got 4D data, shape (x, y, z, t) = ("),
    ("5d", nii_5d, "read_volume", "expected a 3D volume, got 5D data, shape (5 values) = ("),
    ("4d_label", _label(lambda: np.stack([label()] * 2), np.uint8), "label", "got 4D"),
    # voxel values
    ("nan_voxel", _with_value(np.nan, "nan.nii.gz"), "read_volume", "1 NaN/Inf voxels"),
    ("inf_voxel", _with_value(np.inf, "inf.nii.gz"), "read_volume", "1 NaN/Inf voxels"),
    ("constant_image", constant_image, "read_volume", "is constant (every voxel is 12)"),
    # spacing
    ("spacing_zero", _with_pixdim((1.25, 0.0, 8.0), "zero.nii.gz"), "read_volume", "zero, negative or not finite"),
    ("spacing_negative", _with_pixdim((-1.25, 1.5, 8.0), "neg.nii.gz"), "read_volume",
     "(x, y, z) = (-1.25, 1.5, 8) mm"),
    ("spacing_missing_nan", _with_pixdim((np.nan, 1.5, 8.0), "nanpix.nii.gz"), "read_volume", "not finite"),
    # broken / wrong files and paths
    ("truncated_gz", truncated_gz, "read_volume", "corrupt or truncated"),
    ("truncated_nii", truncated_nii, "read_volume", "corrupt or truncated"),
    ("gzip_but_not_nifti", gzip_not_nifti, "read_volume", "not a NIfTI file"),
    ("empty_0_bytes", empty_file, "read_volume", "empty (0 bytes)"),
    ("text_named_nii_gz", text_named_niigz, "read_volume", "not gzip-compressed (it looks like a text file)"),
    ("text_named_nii", text_named_nii, "read_volume", "not a NIfTI file"),
    ("folder_named_nii_gz", folder_named_nii, "read_volume", "found a folder"),
    ("nonexistent_path", missing_path, "read_volume", "does not exist"),
    ("unsupported_suffix", unsupported_suffix, "read_volume", "unsupported file type '.png'"),
    ("unreadable_chmod_000", unreadable, "read_volume", "permission denied"),
    ("empty_folder", empty_folder, "read_volume", "folder is empty"),
    ("folder_without_images", folder_without_images, "read_volume", "holds no DICOM files"),
    # size claimed by the header: refused before allocating (2.7e12 voxels would raise MemoryError otherwise)
    ("huge_header", _header_shape((30000, 30000, 3000), "huge.nii.gz"), "read_volume",
     "claims shape (x, y, z) = (30000, 30000, 3000): 2,700,000,000,000 voxels, more than the limit of"),
    ("zero_size_header", _header_shape((0, 6, 3), "nothing.nii.gz"), "read_volume",
     "empty array (shape (x, y, z) = (0, 6, 3))"),
    # label maps
    ("label_value_7", _label(label(codes=(0, 1, 7)), np.uint8), "label", "values [7] are outside 0..3"),
    ("label_negative", _label(_negative, np.int16), "label", "values [-1] are outside"),
    ("label_float_fractional", _label(_fractional, np.float32), "label", "non-integer values"),
    ("label_nan", _label(_nan_label, np.float32), "label", "contains NaN/Inf"),
    ("label_shape_mismatch", _label(np.zeros((3, 6, 4), np.uint8), np.uint8), "label",
     "label shape (z, y, x) = (3, 6, 4) does not match the image's shape (z, y, x) = (3, 6, 5)"),
    ("label_affine_flipped", _label(label(), np.uint8, FLIPPED_X), "label", "not on the image's voxel grid"),
    ("label_affine_shifted", _label(label(), np.uint8, SHIFTED), "label", "by up to 5.00 mm"),
    ("label_corrupt", label_corrupt, "label", "corrupt or truncated"),
    # DICOM
    ("dicom_missing_slice", dicom_missing_slice, "dicom", "not evenly spaced (missing slice?)"),
    ("dicom_mixed_orientation", dicom_mixed_orientation, "dicom", "mixes slice orientations"),
    ("dicom_no_pixel_spacing", dicom_no_pixel_spacing, "dicom", "PixelSpacing is missing"),
    ("dicom_constant", dicom_constant, "dicom", "is constant"),
    ("dicom_single_file", dicom_single_file, "read_volume", "single DICOM file"),
    # dataset folders and manifests
    ("csv_missing_columns", csv_missing_columns, "dataset", "must have columns ['ed_frame', 'es_frame', 'patient']"),
    ("csv_frame_not_integer", csv_frame_not_integer, "dataset", "line 2: ed_frame/es_frame of patient001"),
    ("csv_short_row", csv_short_row, "dataset", "are not integers ('1', None)"),
    ("csv_missing_patient_folder", csv_missing_patient_folder, "dataset", "patient folder patient002"),
    ("csv_not_utf8", csv_not_utf8, "dataset", "not a readable UTF-8 CSV"),
    ("nnunet_broken_json", nnunet_broken_json, "dataset", "cannot read dataset.json"),
    ("dataset_empty_folder", dataset_empty, "dataset", "folder is empty"),
    ("dataset_nonexistent", missing_path, "dataset", "does not exist"),
    # checkpoints
    ("checkpoint_garbage", ckpt_garbage, "checkpoint", "not a PyTorch checkpoint, or corrupt"),
    ("checkpoint_empty", ckpt_empty, "checkpoint", "empty (0 bytes)"),
    ("checkpoint_not_cmrseg", ckpt_plain_state_dict, "checkpoint", "not a cmrseg checkpoint"),
    ("checkpoint_missing", missing_path, "checkpoint", "does not exist"),
    # evaluation
    ("evaluate_gt_value_7", _eval(label(), label(codes=(0, 7)), "gt"), "evaluate", "values [7] are outside"),
    ("evaluate_shape_mismatch", _eval(label(), label(shape=(3, 6, 4)), "pred"), "evaluate",
     "prediction shape (z, y, x) = (3, 6, 5) differs from GT shape (z, y, x) = (3, 6, 4)"),
    ("evaluate_pred_corrupt", evaluate_pred_corrupt, "evaluate", "corrupt or truncated"),
]


@pytest.mark.parametrize("build, api, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_specific_error(tmp_path, build, api, expected) -> None:
    if build is unreadable and os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    given, offending = build(tmp_path)
    with pytest.raises(InputError) as err:
        APIS[api](given)
    msg = str(err.value)
    assert expected in msg, msg
    assert str(offending) in msg, f"message does not name {offending}: {msg}"
    assert err.value.hint, f"no advice on what to do: {msg}"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


def test_voxel_limit_is_configurable(tmp_path, monkeypatch) -> None:
    """The limit applies to NIfTI and DICOM alike and can be raised or lowered with CMRSEG_MAX_VOXELS."""
    nii = write_nii(tmp_path / "v.nii.gz", image())  # 3 * 6 * 5 = 90 voxels
    write_dicom_series(tmp_path / "sax", _vol(), SPACING)  # 4 * 6 * 5 = 120 voxels
    assert read_volume(nii).shape == (3, 6, 5)
    monkeypatch.setenv("CMRSEG_MAX_VOXELS", "89")
    with pytest.raises(InputError, match=r"shape \(x, y, z\) = \(5, 6, 3\): 90 voxels, more than the limit of 89"):
        read_volume(nii)
    with pytest.raises(InputError, match=r"6 x 5 \(rows x columns\) = 120 voxels, more than the limit of 89") as err:
        read_volume(tmp_path / "sax")
    assert str(tmp_path / "sax") in str(err.value)
    monkeypatch.setenv("CMRSEG_MAX_VOXELS", "90")
    assert read_volume(nii).shape == (3, 6, 5)


def test_label_grid_within_half_a_voxel_is_accepted(tmp_path) -> None:
    """Float32 header round-off or a sub-voxel origin difference is not a misalignment."""
    affine = np.diag([1.25, 1.5, 8.0, 1.0])
    affine[:3, 3] = 0.3  # 0.52 mm off, below half the smallest voxel (0.625 mm)
    build = _label(label(), np.uint8, affine)
    _, lab = build(tmp_path)
    np.testing.assert_array_equal(APIS["label"](lab).label, label())


# ---- atomic outputs -------------------------------------------------------------------------------------------

def test_write_nifti_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    """A write that dies half-way leaves neither the target nor a temp file; an old target stays intact."""
    import cmrseg.io.nifti as nifti

    target = tmp_path / "out" / "seg.nii.gz"
    write_nifti(np.ones((2, 3, 4), np.uint8), np.eye(4), target)
    before = target.read_bytes()

    def dying_save(img, filename):  # writes some bytes, then the disk "fills up"
        Path(filename).write_bytes(b"\x1f\x8b partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nifti.nib, "save", dying_save)
    with pytest.raises(OSError, match="No space left"):
        write_nifti(np.zeros((2, 3, 4), np.uint8), np.eye(4), target)
    with pytest.raises(OSError):
        write_nifti(np.zeros((2, 3, 4), np.uint8), np.eye(4), tmp_path / "out" / "new.nii.gz")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seg.nii.gz"]
    assert target.read_bytes() == before


# ---- CLI: exit code 2, the file named, nothing written ---------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny model: enough to run prediction end to end (the values do not matter here)."""
    from cmrseg.config import load_config
    from cmrseg.models.registry import create_model

    torch.manual_seed(0)
    cfg = load_config(None, ["model.params={features: [4, 8, 16]}", "data.preprocess.fov_px=64",
                             "data.preprocess.target_spacing=2.5"])
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, create_model(cfg.model), cfg.model_dump(mode="json"))
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def _cli(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("case_id", ["5d", "nan_voxel", "text_named_nii_gz", "constant_image",  # a 4D cine is
                                     "huge_header", "dicom_missing_slice"])  # predicted (tests/inference/test_cine_predict.py)
def test_cli_predict_refuses_bad_input(tmp_path, tiny_checkpoint, case_id) -> None:
    build = next(c[1] for c in CASES if c[0] == case_id)
    (tmp_path / "in").mkdir()
    given, offending = build(tmp_path / "in")
    out = tmp_path / "out"
    res = _cli(["predict", given, "-o", out, "-c", tiny_checkpoint])
    assert res.exit_code == 2, res.output
    assert str(offending) in _flat(res.output) and "error:" in res.output
    assert _files(out) == []


def test_cli_predict_folder_isolates_the_bad_file(tmp_path, tiny_checkpoint) -> None:
    """In a folder, a bad volume fails alone (exit 1, named); the good one is written, the bad one is not."""
    from cmrseg.data.phantom import make_phantom_case

    case = make_phantom_case(1, shape=(4, 60, 60), spacing=(8.0, 2.5, 2.5))
    write_nifti(case.image, np.diag([2.5, 2.5, 8.0, 1.0]), tmp_path / "in" / "good.nii.gz")
    write_nii(tmp_path / "in" / "blank.nii.gz", np.zeros((3, 6, 5), np.float32))
    res = _cli(["predict", tmp_path / "in", "-o", tmp_path / "out", "-c", tiny_checkpoint])
    assert res.exit_code == 1, res.output
    assert _files(tmp_path / "out") == ["good.nii.gz"]
    assert str(tmp_path / "in" / "blank.nii.gz") in _flat(res.output) and "constant" in res.output


def test_cli_predict_refuses_malicious_checkpoint(tmp_path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"format": "cmrseg-checkpoint-v1", "x": _Payload(marker)}, tmp_path / "evil.pt")
    src = write_nii(tmp_path / "img.nii.gz", image())
    res = _cli(["predict", src, "-o", tmp_path / "out", "-c", tmp_path / "evil.pt"])
    assert res.exit_code == 2 and "evil.pt" in res.output and "arbitrary code" in _flat(res.output)
    assert not marker.exists() and _files(tmp_path / "out") == []


class _Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("case_id", ["evaluate_gt_value_7", "evaluate_shape_mismatch", "evaluate_pred_corrupt"])
def test_cli_evaluate_refuses_bad_input(tmp_path, case_id) -> None:
    build = next(c[1] for c in CASES if c[0] == case_id)
    pred, offending = build(tmp_path)
    res = _cli(["evaluate", "--pred", pred, "--gt", tmp_path / "gt", "--out", tmp_path / "eval"])
    assert res.exit_code == 2, res.output
    assert str(offending) in _flat(res.output)
    assert not (tmp_path / "eval").exists()
