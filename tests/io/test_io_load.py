"""load_ref / read_volume on synthetic NIfTI: known answers and bad inputs (InputError naming file + problem)."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from iosynth import SHAPE, SPACING, image, label, write_nii

from cmrseg.errors import InputError
from cmrseg.io import CaseRef, read_nifti, read_volume, write_nifti
from cmrseg.io.load import load_ref, remap_labels


def _ref(img: Path, lab: Path | None = None, **kw) -> CaseRef:
    return CaseRef(case_id="c1", patient="p1", image_path=img, label_path=lab, **kw)


def test_load_ref_3d_known_values(tmp_path):
    img = image(3)
    ref = _ref(write_nii(tmp_path / "a.nii.gz", img), write_nii(tmp_path / "a_gt.nii.gz", label(), dtype=np.uint8),
               split="train", phase="ED", frame=1, dataset="pairs", meta={"group": "NOR"})
    case = ref.load()
    assert case.shape == SHAPE and case.spacing == pytest.approx(SPACING)
    np.testing.assert_allclose(case.image, img)
    np.testing.assert_array_equal(case.label, label())
    assert case.label.dtype == np.uint8 and case.source == ref.image_path
    assert case.meta == {"group": "NOR", "split": "train"} and (case.phase, case.frame) == ("ED", 1)
    assert ref.load(with_label=False).label is None


def test_load_ref_4d_frame_and_label_map(tmp_path):
    cine = np.stack([image(t) for t in range(4)])
    gt = np.zeros(cine.shape, np.uint8)
    gt[2] = label(codes=(0, 1, 2, 3))
    ref = _ref(write_nii(tmp_path / "c.nii.gz", cine), write_nii(tmp_path / "g.nii.gz", gt, dtype=np.uint8),
               time_index=2, label_map={0: 0, 1: 3, 2: 2, 3: 1})
    case = ref.load()
    np.testing.assert_allclose(case.image, cine[2])
    np.testing.assert_array_equal(case.label, label(codes=(0, 3, 2, 1)))
    assert case.meta["time_index"] == 2


def test_remap_unknown_code_names_file(tmp_path):
    with pytest.raises(InputError, match=r"values \[5\]") as err:
        remap_labels(np.array([0, 1, 5]), {0: 0, 1: 3}, tmp_path / "x_gt.nii.gz")
    assert "x_gt.nii.gz" in str(err.value)


def test_read_volume_nifti_and_frame(tmp_path, nii):
    case = read_volume(nii(tmp_path / "vol.nii.gz", image()))
    assert case.case_id == "vol" and case.shape == SHAPE and case.label is None
    cine = np.stack([image(t) for t in range(3)])
    frame = read_volume(nii(tmp_path / "cine.nii.gz", cine), time_index=1)
    np.testing.assert_allclose(frame.image, cine[1])
    assert frame.case_id == "cine_frame02" and frame.frame == 2


def test_write_read_round_trip(tmp_path):
    case = read_volume(write_nii(tmp_path / "vol.nii", image()))
    out = write_nifti(case.image, case.affine, tmp_path / "out" / "pred.nii.gz")
    arr, spacing, affine = read_nifti(out)
    np.testing.assert_array_equal(arr, case.image)
    assert spacing == pytest.approx(case.spacing)
    np.testing.assert_allclose(affine, case.affine)


# ---- bad inputs: InputError that names the file and the problem ----

def _bad_label(tmp_path, lab, dtype):
    img = write_nii(tmp_path / "img.nii.gz", image())
    lab_path = write_nii(tmp_path / "img_gt.nii.gz", lab, dtype=dtype)
    with pytest.raises(InputError) as err:
        _ref(img, lab_path).load()
    assert err.value.path == lab_path and "img_gt.nii.gz" in str(err.value)
    return str(err.value)


def test_label_value_7(tmp_path):
    msg = _bad_label(tmp_path, label(codes=(0, 1, 7)), np.uint8)
    assert "[7]" in msg and "outside" in msg


def test_label_non_integer(tmp_path):
    assert "non-integer" in _bad_label(tmp_path, label().astype(np.float32) * 0.5 + 0.25, np.float32)


def test_label_shape_mismatch(tmp_path):
    msg = _bad_label(tmp_path, np.zeros((3, 6, 4), np.uint8), np.uint8)
    assert "shape" in msg and "(3, 6, 4)" in msg


def test_scribble_value_5(tmp_path):
    img = write_nii(tmp_path / "img.nii.gz", image())
    scr = write_nii(tmp_path / "img_scribble.nii.gz", label(codes=(4, 5)), dtype=np.uint8)
    with pytest.raises(InputError, match=r"\[5\]") as err:
        CaseRef("c", "p", img, scribble_path=scr).load()
    assert "img_scribble.nii.gz" in str(err.value)


def test_zero_spacing(tmp_path):
    path = write_nii(tmp_path / "flat.nii.gz", image(), spacing=(0.0, 1.5, 1.25))
    with pytest.raises(InputError, match="spacing") as err:
        read_volume(path)
    assert "flat.nii.gz" in str(err.value) and "pixdim" in str(err.value)


def test_4d_where_3d_expected(tmp_path):
    path = write_nii(tmp_path / "cine.nii.gz", np.stack([image(t) for t in range(3)]))
    with pytest.raises(InputError, match="4D") as err:
        read_volume(path)
    assert "cine.nii.gz" in str(err.value) and "frame" in str(err.value) and "layout" in str(err.value)


def test_frame_out_of_range(tmp_path):
    path = write_nii(tmp_path / "cine.nii.gz", np.stack([image(t) for t in range(3)]))
    with pytest.raises(InputError, match=r"outside 0\.\.2") as err:
        read_volume(path, time_index=3)
    assert "cine.nii.gz" in str(err.value)


def test_nan_in_image(tmp_path):
    img = image()
    img[1, 2, 3] = np.nan
    path = write_nii(tmp_path / "nan.nii.gz", img)
    with pytest.raises(InputError, match="NaN") as err:
        _ref(path).load()
    assert "nan.nii.gz" in str(err.value)


def test_truncated_gzip(tmp_path):
    path = write_nii(tmp_path / "trunc.nii.gz", image(shape=(8, 40, 40)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated") as err:
        read_volume(path)
    assert "trunc.nii.gz" in str(err.value)


def test_garbage_nii(tmp_path):
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header at all"))
    with pytest.raises(InputError, match="not a NIfTI file") as err:
        read_volume(path)
    assert "junk.nii.gz" in str(err.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.nii.gz"
    path.touch()
    with pytest.raises(InputError, match=r"empty \(0 bytes\)") as err:
        read_volume(path)
    assert "empty.nii.gz" in str(err.value)


def test_missing_label_file(tmp_path):
    img = write_nii(tmp_path / "img.nii.gz", image())
    with pytest.raises(InputError, match="does not exist") as err:
        _ref(img, tmp_path / "gone_gt.nii.gz").load()
    assert "gone_gt.nii.gz" in str(err.value)


@pytest.mark.parametrize("name, problem", [("missing.nii.gz", "does not exist"), ("notes.txt", "unsupported")])
def test_read_volume_bad_paths(tmp_path, name, problem):
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match=problem) as err:
        read_volume(path)
    assert name in str(err.value)


def test_read_volume_folder_without_dicom(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"x")
    with pytest.raises(InputError, match="no DICOM") as err:
        read_volume(tmp_path)
    assert str(tmp_path) in str(err.value) and "load_dataset" in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="folder is empty"):
        read_volume(empty)


def test_scaled_label_nifti_is_accepted(tmp_path):
    """Labels stored as float with scl_slope (some converters do this) still come out as uint8 codes."""
    img = write_nii(tmp_path / "i.nii.gz", image())
    nimg = nib.Nifti1Image(np.transpose(label(), (2, 1, 0)).astype(np.float32), np.diag([1.25, 1.5, 8.0, 1]))
    nib.save(nimg, str(tmp_path / "l.nii.gz"))
    case = _ref(img, tmp_path / "l.nii.gz").load()
    np.testing.assert_array_equal(case.label, label())
