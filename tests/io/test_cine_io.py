"""Cine input: 4D NIfTI read/write round trip (affine, qform/sform codes, frame interval), multi-phase DICOM
ordering and its specific errors, given ED/ES (Info.cfg, M&Ms CSV, a CSV), and the real Sunnybrook series."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from iosynth import write_dicom_series, write_nii

from cmrseg.errors import InputError
from cmrseg.io.cine import Cine, is_cine, phases_from_csv, read_cine, read_input, subject_name
from cmrseg.io.dicom import read_dicom_frames, scan_series
from testkit import SHARED_DATA

SP = (8.0, 1.5, 1.25)
TRIGGERS = (0.0, 40.0, 80.0, 120.0)
SUNNYBROOK = SHARED_DATA / "sunnybrook_cine" / "SCD0000501"


def _vol(shape=(3, 6, 5)) -> np.ndarray:
    return np.random.default_rng(0).integers(10, 1000, shape).astype(np.uint16)


def _cine_nifti(path, n=5, qform_code=1, sform_code=4, unit="msec", dt=33.0):
    """A 4D NIfTI with an oblique affine, chosen codes and a frame interval in pixdim[4]."""
    data = np.random.default_rng(1).random((7, 6, 3, n)).astype(np.float32)  # (x, y, z, t)
    affine = np.array([[-1.2, 0.1, 0.0, 30.0], [0.1, 1.3, 0.2, -40.0], [0.0, -0.3, 8.0, 12.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, qform_code)
    img.set_sform(affine, sform_code)
    img.header.set_xyzt_units("mm", unit)
    img.header.set_zooms(img.header.get_zooms()[:3] + (dt,))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path, data, affine


# ----------------------------------------------------------------------------------------------- NIfTI

def test_nifti_cine_round_trip_keeps_grid_codes_and_timing(tmp_path):
    src, data, affine = _cine_nifti(tmp_path / "patient007_4d.nii.gz")
    cine = read_input(src)
    assert isinstance(cine, Cine) and is_cine(src)
    assert cine.image.shape == (5, 3, 6, 7) and cine.name == "patient007"
    np.testing.assert_allclose(cine.image[2], np.transpose(data[..., 2], (2, 1, 0)))
    zooms = nib.load(str(src)).header.get_zooms()
    assert cine.spacing == pytest.approx((zooms[2], zooms[1], zooms[0]))
    assert cine.frame_interval_ms == pytest.approx(33.0) and "pixdim[4]" in cine.time_source
    frame = cine.frame(3)
    assert frame.case_id == "patient007_frame04" and frame.shape == (3, 6, 7) and frame.meta["time_index"] == 3

    labels = (cine.image > 0.5).astype(np.uint8) * 3
    out = cine.write_labels(labels, tmp_path / "out" / "pred.nii.gz")
    back = nib.load(str(out))
    assert back.shape == (7, 6, 3, 5)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    assert (int(back.header["qform_code"]), int(back.header["sform_code"])) == (1, 4)
    np.testing.assert_allclose(back.header.get_qform(), nib.load(str(src)).header.get_qform(), atol=1e-5)
    assert back.header.get_xyzt_units() == ("mm", "msec") and back.header.get_zooms()[3] == pytest.approx(33.0)
    np.testing.assert_array_equal(np.transpose(np.asarray(back.dataobj), (3, 2, 1, 0)), labels)
    assert back.get_data_dtype() == np.uint8


@pytest.mark.parametrize(("unit", "dt", "ms"), [("sec", 0.04, 40.0), ("usec", 25000.0, 25.0), ("unknown", 1.0, None)])
def test_nifti_frame_interval_needs_a_time_unit(tmp_path, unit, dt, ms):
    src, _, _ = _cine_nifti(tmp_path / "c.nii.gz", unit=unit, dt=dt)
    cine = read_cine(src)
    assert cine.frame_interval_ms == (None if ms is None else pytest.approx(ms))
    assert read_cine(src, frame_ms=30.0).frame_interval_ms == pytest.approx(30.0)  # the caller's value wins


def test_3d_inputs_stay_3d(tmp_path):
    vol = write_nii(tmp_path / "vol.nii.gz", np.random.default_rng(0).random((3, 6, 5)).astype(np.float32))
    single = write_nii(tmp_path / "one.nii.gz", np.random.default_rng(0).random((1, 3, 6, 5)).astype(np.float32))
    assert not is_cine(vol) and read_input(vol).shape == (3, 6, 5)
    assert not is_cine(single) and read_input(single).shape == (3, 6, 5)  # t = 1: a 3D volume


def test_subject_names_of_the_cine_layouts(tmp_path):
    assert subject_name(tmp_path / "patient001" / "patient001_4d.nii.gz") == "patient001"
    assert subject_name(tmp_path / "A1B2C3" / "A1B2C3_sa.nii.gz") == "A1B2C3"
    assert subject_name(tmp_path / "1234567" / "sa.nii.gz") == "1234567"
    assert subject_name(tmp_path / "SCD0000501") == "SCD0000501"


def test_given_ed_es_from_info_cfg_and_mnms_csv(tmp_path):
    src, _, _ = _cine_nifti(tmp_path / "patient001" / "patient001_4d.nii.gz")
    (tmp_path / "patient001" / "Info.cfg").write_text("ED: 1\nES: 4\nGroup: NOR\n", encoding="utf-8")
    hint = read_cine(src).phases
    assert (hint.ed, hint.es) == (0, 3) and "Info.cfg" in hint.source and "1-based" in hint.source

    mnms = tmp_path / "mnms"
    src, _, _ = _cine_nifti(mnms / "Training" / "Labeled" / "A1B2C3" / "A1B2C3_sa.nii.gz")
    (mnms / "info.csv").write_text("External code,Vendor,ED,ES\nA1B2C3,A,0,3\n", encoding="utf-8")
    hint = read_cine(src).phases
    assert (hint.ed, hint.es) == (0, 3) and "M&Ms" in hint.source

    (tmp_path / "patient001" / "Info.cfg").write_text("ED: 1\nES: 9\n", encoding="utf-8")
    with pytest.raises(InputError, match="ES time index 8, outside the cine's frames 0..4") as err:
        read_cine(tmp_path / "patient001" / "patient001_4d.nii.gz")
    assert "Info.cfg" in str(err.value)


def test_given_ed_es_from_a_csv(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("patient,ed_frame,es_frame\np1,1,8\np2,2,9\n", encoding="utf-8")
    assert (phases_from_csv(one, "p2", 20).ed, phases_from_csv(one, "p2", 20).es) == (1, 8)
    zero = tmp_path / "zero.csv"
    zero.write_text("eid,ed_index,es_index\n1234567,0,7\n", encoding="utf-8")
    assert phases_from_csv(zero, "1234567", 20).es == 7
    with pytest.raises(InputError, match="subject 'p3' is not in column 'patient'") as err:
        phases_from_csv(one, "p3", 20)
    assert "p1, p2" in str(err.value)
    ambiguous = tmp_path / "amb.csv"
    ambiguous.write_text("patient,ED,ES\np1,1,8\n", encoding="utf-8")
    with pytest.raises(InputError, match="ambiguous") as err:
        phases_from_csv(ambiguous, "p1", 20)
    assert "ed_frame,es_frame" in str(err.value)
    with pytest.raises(InputError, match="outside the cine's frames"):
        phases_from_csv(one, "p2", 5)


# ----------------------------------------------------------------------------------------------- DICOM

def test_dicom_cine_frames_ordered_by_trigger_time_per_slice(tmp_path):
    """Trigger times differ between slices and instance numbers run against the phases: TriggerTime decides."""
    vol = _vol()
    paths = write_dicom_series(tmp_path / "s", vol, SP, trigger_times=TRIGGERS, trigger_offsets=(0.0, 7.0, 14.0),
                               reverse_instances=True)
    assert len(paths) == 12
    cine = read_input(tmp_path / "s")
    assert isinstance(cine, Cine) and cine.image.shape == (4, 3, 6, 5) and cine.dataset == "dicom"
    for t in range(4):
        np.testing.assert_array_equal(cine.image[t], vol + t)  # the writer adds the phase index to the pixels
    np.testing.assert_allclose(cine.frame_times_ms, np.array(TRIGGERS) + 7.0)  # mean over slices
    assert cine.frame_interval_ms == pytest.approx(40.0) and cine.spacing == pytest.approx(SP)

    out = cine.write_labels(np.zeros(cine.image.shape, np.uint8), tmp_path / "pred.nii.gz")
    back = nib.load(str(out))
    assert (int(back.header["qform_code"]), int(back.header["sform_code"])) == (1, 1)  # scanner coordinates
    np.testing.assert_allclose(back.affine, cine.affine, atol=1e-4)
    assert back.header.get_zooms()[3] == pytest.approx(40.0) and back.header.get_xyzt_units()[1] == "msec"


def test_dicom_cine_missing_phase_is_named(tmp_path):
    paths = write_dicom_series(tmp_path / "s", _vol(), SP, trigger_times=TRIGGERS)
    paths[1 * 4 + 2].unlink()  # slice 1 (origin 30 mm + 8 mm along the normal), phase 3 (80 ms)
    with pytest.raises(InputError, match="phase\\(s\\) missing at slice position 38.00 mm") as err:
        read_input(tmp_path / "s")
    msg = str(err.value)
    assert "it has 3 images, while 2 of the 3 slice positions have 4 phases" in msg
    assert "phase 3 of 4 (trigger time about 80 ms" in msg and "re-export the complete series" in msg
    assert str(tmp_path / "s") in msg and "ImagePositionPatient" in msg


def test_dicom_cine_duplicate_phase_is_named(tmp_path):
    paths = write_dicom_series(tmp_path / "s", _vol(), SP, trigger_times=TRIGGERS)
    ds = pydicom.dcmread(paths[2 * 4 + 1])  # slice 2, phase 2, saved again as another image
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 99
    ds.save_as(tmp_path / "s" / "extra.dcm")
    with pytest.raises(InputError, match="duplicate phase at slice position 46.00 mm") as err:
        read_input(tmp_path / "s")
    msg = str(err.value)
    assert "both have TriggerTime 40 ms" in msg and "extra.dcm" in msg and paths[9].name in msg
    assert "remove the duplicate" in msg

    (tmp_path / "s" / "extra.dcm").unlink()
    shutil.copy(paths[0], tmp_path / "s" / "copy.dcm")  # a byte copy: one SOPInstanceUID twice
    with pytest.raises(InputError, match="the same image twice") as err:
        scan_series(tmp_path / "s")
    assert "copy.dcm" in str(err.value) and paths[0].name in str(err.value)


def test_dicom_cine_without_trigger_times_uses_instance_numbers(tmp_path):
    vol = _vol()
    write_dicom_series(tmp_path / "s", vol, SP, trigger_times=(0.0, 0.0, 0.0))  # TriggerTime written as 0
    image, layout = read_dicom_frames(tmp_path / "s")
    assert image.shape == (3, 3, 6, 5)
    for t in range(3):
        np.testing.assert_array_equal(image[t], vol + t)
    assert read_cine(tmp_path / "s").frame_interval_ms is None


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason="real Sunnybrook series not available")
def test_sunnybrook_series_is_20_frames_of_11_slices_in_order():
    """The real GE export: 220 files named by instance number, 11 positions x 20 phases, 34 ms apart."""
    image, layout = read_dicom_frames(SUNNYBROOK)
    assert image.shape == (20, 11, 256, 256) and layout.n_frames == 20 and layout.n_slices == 11
    assert np.all(np.diff(layout.positions) == pytest.approx(8.0, abs=0.01))
    trig = layout.trigger_times()
    assert np.all(np.diff(trig, axis=1) > 0)  # every position in phase order
    np.testing.assert_allclose(trig[0, [0, 1, 19]], [10.0, 44.0, 657.0])
    for k, group in enumerate(layout.groups):  # files of one position are 20 consecutive instance numbers
        numbers = [int(s.path.stem) for s in group]
        assert numbers == list(range(numbers[0], numbers[0] + 20)) and (numbers[0] - 1) % 20 == 0
    for t, k in ((0, 0), (7, 5), (19, 10)):  # voxels of frame t, slice k are those of the matching file
        ds = pydicom.dcmread(layout.groups[k][t].path)
        np.testing.assert_array_equal(image[t, k], ds.pixel_array.astype(np.float32))
    cine = read_cine(SUNNYBROOK)
    assert cine.frame_interval_ms == pytest.approx(34.0, abs=0.5) and cine.meta["rr_interval_ms"] == 681.0
    assert cine.spacing == pytest.approx((8.0, 1.3672, 1.3672), abs=1e-3)
