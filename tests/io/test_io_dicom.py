"""DICOM series reading: geometry (spacing, slice order, RAS affine) against SimpleITK, and broken series."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from iosynth import write_dicom_series

from cmrseg.errors import InputError
from cmrseg.io import detect_layout, load_dataset, read_dicom_series, read_volume, write_nifti

SP = (8.0, 1.5, 1.25)  # sz, sy (row spacing), sx (column spacing)
OBLIQUE = (0.8660254, 0.5, 0.0, 0.0, 0.0, -1.0)  # rows along (cos30, sin30, 0), columns along -z (LPS)


def _vol(shape=(4, 6, 5)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 1000, shape).astype(np.uint16)


def _sitk_reference(folder, tmp_path):
    """SimpleITK's own reading of the series, written as NIfTI and read back: (array zyx, affine via nibabel)."""
    import nibabel as nib

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    sitk.WriteImage(img, str(tmp_path / "ref.nii.gz"))
    ref = nib.load(str(tmp_path / "ref.nii.gz"))
    return np.transpose(np.asanyarray(ref.dataobj), (2, 1, 0)), ref.affine, img


@pytest.mark.parametrize("iop", [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), OBLIQUE])
def test_geometry_matches_simpleitk(tmp_path, iop):
    vol = _vol()
    write_dicom_series(tmp_path / "s", vol, SP, iop=iop)
    case = read_dicom_series(tmp_path / "s")
    assert case.shape == (4, 6, 5) and case.spacing == pytest.approx(SP)
    assert case.image.dtype == np.float32 and case.dataset == "dicom"
    ref_arr, ref_affine, _ = _sitk_reference(tmp_path / "s", tmp_path)
    np.testing.assert_array_equal(case.image, vol)  # slices in order despite shuffled file names
    np.testing.assert_array_equal(ref_arr, vol)
    np.testing.assert_allclose(case.affine, ref_affine, atol=1e-3)


def test_affine_maps_voxels_to_ras(tmp_path):
    origin = np.array([10.0, -20.0, 30.0])  # LPS
    write_dicom_series(tmp_path / "s", _vol(), SP, iop=OBLIQUE, origin=tuple(origin))
    case = read_dicom_series(tmp_path / "s")
    r, c = np.array(OBLIQUE[:3]), np.array(OBLIQUE[3:])
    i, j, k = 3, 2, 1  # column, row, slice
    lps = origin + i * SP[2] * r + j * SP[1] * c + k * SP[0] * np.cross(r, c)
    ras = case.affine @ np.array([i, j, k, 1.0])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-3)


def test_prediction_nifti_overlays_series(tmp_path):
    """A mask written with the case's affine has the series' origin, direction and spacing in SimpleITK."""
    write_dicom_series(tmp_path / "s", _vol(), SP, iop=OBLIQUE)
    case = read_dicom_series(tmp_path / "s")
    out = write_nifti((case.image > 500).astype(np.uint8), case.affine, tmp_path / "pred.nii.gz")
    pred, (_, _, series) = sitk.ReadImage(str(out)), _sitk_reference(tmp_path / "s", tmp_path)
    np.testing.assert_allclose(pred.GetOrigin(), series.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(pred.GetDirection(), series.GetDirection(), atol=1e-4)
    np.testing.assert_allclose(pred.GetSpacing(), series.GetSpacing(), atol=1e-4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(pred), case.image > 500)


def test_missing_slice(tmp_path):
    write_dicom_series(tmp_path / "s", _vol(), SP, slice_offsets=[0.0, 8.0, 24.0, 32.0])
    with pytest.raises(InputError, match="missing slice") as err:
        read_dicom_series(tmp_path / "s")
    msg = str(err.value)
    assert str(tmp_path / "s") in msg and "16.00 mm between positions" in msg and "8.00 mm steps" in msg


@pytest.mark.parametrize("pixel_spacing", [None, (0.0, 1.25)])
def test_missing_or_zero_pixel_spacing(tmp_path, pixel_spacing):
    write_dicom_series(tmp_path / "s", _vol(), SP, pixel_spacing=pixel_spacing)
    with pytest.raises(InputError, match="PixelSpacing is missing or not positive") as err:
        read_dicom_series(tmp_path / "s")
    assert err.value.path.suffix == ".dcm" and err.value.path.name in str(err.value)


def test_cine_series_needs_frame(tmp_path):
    vol = _vol()
    write_dicom_series(tmp_path / "s", vol, SP, trigger_times=(0.0, 40.0, 80.0))
    with pytest.raises(InputError, match="cine with 3 frames at each of 4 slice positions") as err:
        read_volume(tmp_path / "s")
    assert "time_index" in str(err.value)
    frame = read_dicom_series(tmp_path / "s", time_index=2)
    np.testing.assert_array_equal(frame.image, vol + 2)
    assert frame.frame == 3 and frame.spacing == pytest.approx(SP)


def test_several_series(tmp_path):
    write_dicom_series(tmp_path / "s", _vol(), SP)
    write_dicom_series(tmp_path / "s", _vol((2, 6, 5)), SP, start_index=100)  # a 2-file localizer
    assert read_dicom_series(tmp_path / "s").shape == (4, 6, 5)
    write_dicom_series(tmp_path / "t", _vol((2, 6, 5)), SP)
    write_dicom_series(tmp_path / "t", _vol((2, 6, 5)), SP, start_index=100)
    with pytest.raises(InputError, match="several DICOM series of equal size") as err:
        read_dicom_series(tmp_path / "t")
    assert str(err.value).count("2 files") == 2


def test_dicom_layout_and_read_volume(tmp_path):
    for name in ("series_a", "series_b"):
        write_dicom_series(tmp_path / "study" / name, _vol(), SP)
    (tmp_path / "study" / "readme.txt").write_text("export", encoding="utf-8")
    assert detect_layout(tmp_path / "study") == "dicom"
    refs = load_dataset(tmp_path / "study")
    assert [r.case_id for r in refs] == ["series_a", "series_b"]
    assert refs[0].load().shape == (4, 6, 5)
    assert read_volume(tmp_path / "study" / "series_b").case_id == "series_b"
    with pytest.raises(InputError, match="series in subfolders"):
        read_volume(tmp_path / "study")
    with pytest.raises(InputError, match="single DICOM file"):
        read_volume(next((tmp_path / "study" / "series_a").glob("*.dcm")))


def test_folder_without_dicom_images(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(InputError, match="no DICOM image files"):
        read_dicom_series(tmp_path)
