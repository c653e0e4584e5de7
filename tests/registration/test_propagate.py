"""Label propagation between frames: known answers on the phantom, files on the target's grid, CLI."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.data.phantom import make_phantom_case
from cmrseg.data.preprocess import PreprocessConfig
from cmrseg.errors import InputError
from cmrseg.io.nifti import read_nifti, write_nifti
from cmrseg.registration.propagate import propagate_case
from cmrseg.registration.registrators import DemonsRegistrator, IdentityRegistrator, Registrator

SMALL = PreprocessConfig(target_spacing=2.0, fov_px=128)


def small_pair(seed: int = 3):
    kw = {"shape": (4, 120, 110), "spacing": (10.0, 1.6, 1.6)}
    return make_phantom_case(seed, "ED", **kw), make_phantom_case(seed, "ES", **kw)


def mean_dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([2 * ((a == c) & (b == c)).sum() / ((a == c).sum() + (b == c).sum()) for c in (1, 2, 3)]))


class Folding(Registrator):
    """Mirrors every slice top-down: d_y(y) = H - 1 - 2 y, a fold (Jacobian determinant -1) everywhere."""

    preprocess = SMALL

    def _register(self, moving, fixed):
        z, h, w = fixed.shape
        d = np.zeros((z, 2, h, w), np.float32)
        d[:, 0] = (h - 1 - 2 * np.arange(h, dtype=np.float32))[:, None]
        return d


def test_identity_keeps_the_source_labels_on_the_target_grid() -> None:
    ed, es = small_pair()
    reg = IdentityRegistrator()
    reg.preprocess = SMALL
    prop = propagate_case(reg, ed, es)
    assert prop.label.shape == es.shape and prop.label.dtype == np.uint8
    assert mean_dice(prop.label, ed.label) > 0.9  # only the preprocess/restore round trip in between
    assert prop.neg_jacobian_share == 0.0 and prop.seconds > 0


def test_demons_propagation_beats_identity_on_the_phantom() -> None:
    ed, es = small_pair()
    reg = DemonsRegistrator()
    reg.preprocess = SMALL
    ident = mean_dice(propagate_case(IdentityRegistrator(), ed, es).label, es.label)
    demons = mean_dice(propagate_case(reg, ed, es).label, es.label)
    assert demons > ident + 0.05 and demons > 0.8


def test_folding_and_confidence_masks_set_ignore() -> None:
    ed, es = small_pair()
    prop = propagate_case(Folding(), ed, es, mask_folding=True)
    assert prop.neg_jacobian_share == 1.0
    assert set(np.unique(prop.label)) == {4}  # the whole field of view folds
    assert set(np.unique(propagate_case(Folding(), ed, es).label)) <= {0, 1, 2, 3}
    reg = IdentityRegistrator()
    reg.preprocess = SMALL
    masked = propagate_case(reg, ed, es, min_confidence=0.99).label
    assert 0 < (masked == 4).mean() < 0.2  # label boundaries (blended by the restore) only


def test_propagation_needs_a_label_and_matching_slices() -> None:
    ed, es = small_pair()
    with pytest.raises(InputError, match="no label map"):
        propagate_case(IdentityRegistrator(), ed.with_label(None), es)
    other = make_phantom_case(3, "ES", shape=(5, 120, 110), spacing=(10.0, 1.6, 1.6))
    with pytest.raises(InputError, match="slices"):
        propagate_case(IdentityRegistrator(), ed, other)


def test_cli_dataset_writes_target_grid_files(phantom_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "prop"
    res = CliRunner().invoke(app, ["propagate", str(phantom_root), "-o", str(out), "-r", "identity",
                                   "--split", "val", "--direction", "both"])
    assert res.exit_code == 0, res.output
    written = sorted(out.glob("*.nii.gz"))
    assert len(written) == 2  # ED and ES of the one val patient
    for path in written:
        patient = path.name.split("_")[0]
        target = nib.load(str(phantom_root / patient / path.name))
        label = nib.load(str(path))
        assert label.shape == target.shape
        assert np.allclose(label.affine, target.affine)
        assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1, 2, 3}


def test_cli_4d_cine_propagates_to_every_other_frame(tmp_path: Path) -> None:
    ed, es = small_pair()
    frames = np.stack([ed.image, es.image, ed.image])  # (t, z, y, x)
    cine = tmp_path / "patient042_4d.nii.gz"
    nib.save(nib.Nifti1Image(np.transpose(frames, (3, 2, 1, 0)), ed.affine), str(cine))
    write_nifti(ed.label, ed.affine, tmp_path / "ed_gt.nii.gz")
    out = tmp_path / "prop"
    res = CliRunner().invoke(app, ["propagate", str(cine), "-o", str(out), "-r", "identity",
                                   "--label", str(tmp_path / "ed_gt.nii.gz"), "--frame", "0"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["patient042_frame02.nii.gz", "patient042_frame03.nii.gz"]
    lab, spacing, affine = read_nifti(out / "patient042_frame03.nii.gz", kind="label")
    assert lab.shape == ed.shape and np.allclose(affine, ed.affine) and np.allclose(spacing, ed.spacing, rtol=1e-4)
    assert mean_dice(lab, ed.label) > 0.9
    res = CliRunner().invoke(app, ["propagate", str(cine), "-o", str(out), "-r", "identity"])
    assert res.exit_code == 2 and "--label" in res.output


def test_outputs_feed_extra_labels(phantom_root: Path, tmp_path: Path) -> None:
    """Propagated ES maps are read back by data.extra_labels (the lead's training streams)."""
    from cmrseg.data.extra_labels import attach_labels
    from cmrseg.io import load_dataset
    from cmrseg.registration.propagate import propagate_dataset

    reg = IdentityRegistrator()
    reg.preprocess = SMALL
    done = propagate_dataset(reg, phantom_root, tmp_path / "es", direction="ed2es", split="val", mask_folding=True,
                             progress=False)
    refs = [r for r in load_dataset(phantom_root) if r.split == "val"]
    (ref,) = attach_labels(refs, tmp_path / "es")
    assert ref.phase == "ES" and ref.case_id == done[0].target_id
    case = ref.load()
    assert case.label.shape == case.image.shape and case.label.max() <= 3


def test_all_frames_of_an_acdc_download_cine(tmp_path: Path) -> None:
    """ACDC download layout (Info.cfg + frames + _4d): ED labels to every frame of the cine."""
    from cmrseg.registration.propagate import propagate_dataset

    ed, es = small_pair()
    pdir = tmp_path / "data" / "patient001"
    pdir.mkdir(parents=True)
    (pdir / "Info.cfg").write_text("ED: 1\nES: 2\nGroup: NOR\nNbFrame: 3\n", encoding="utf-8")
    for frame, case in ((1, ed), (2, es)):
        write_nifti(case.image, case.affine, pdir / f"patient001_frame{frame:02d}.nii.gz")
        write_nifti(case.label, case.affine, pdir / f"patient001_frame{frame:02d}_gt.nii.gz")
    cine = np.stack([ed.image, es.image, ed.image])
    nib.save(nib.Nifti1Image(np.transpose(cine, (3, 2, 1, 0)), ed.affine), str(pdir / "patient001_4d.nii.gz"))
    reg = IdentityRegistrator()
    reg.preprocess = SMALL
    done = propagate_dataset(reg, tmp_path / "data", tmp_path / "out", all_frames=True, progress=False)
    assert sorted(p.target_id for p in done) == ["patient001_frame02", "patient001_frame03"]
    assert (tmp_path / "out" / "patient001_frame03.nii.gz").is_file()
    with pytest.raises(InputError, match="one source phase"):
        propagate_dataset(reg, tmp_path / "data", tmp_path / "out", direction="both", all_frames=True)
