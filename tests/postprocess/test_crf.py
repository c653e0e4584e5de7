"""Dense CRF: removes a spurious blob the image does not support, snaps an uncertain boundary to the image
edge, and gives the same physical result at two pixel spacings (sigmas in mm)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.inference import Predictor
from cmrseg.io import read_volume
from cmrseg.postprocess.config import PostprocessConfig
from cmrseg.postprocess.crf import CRFConfig, crf_refine
from testkit import tiny_overrides

FOV_MM = 72.0
CENTRE, RADIUS = (40.0, 38.0), 18.0  # object (bright disc) in mm
BLOB_CENTRE, BLOB_RADIUS, BLOB_P = (12.0, 12.0), 3.0, 0.7  # spurious class-1 spot on background, in mm


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def scene(spacing: float, shift_mm: float = 1.5, band_mm: float = 3.0, blob: bool = True):
    """The same physical slice sampled at ``spacing`` mm: image (bright disc, z-scores), truth, blob mask and
    2-class probabilities. The "network" is confident (0.95 / 0.05) except in a band of +-``band_mm`` around
    a boundary shifted by ``shift_mm`` where it cannot tell (p = 0.5), and says p = 0.7 on a small blob
    where the image shows background."""
    n = int(round(FOV_MM / spacing))
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * spacing
    truth = np.hypot(yy - CENTRE[0], xx - CENTRE[1]) <= RADIUS
    image = np.where(truth, 2.0, -0.5).astype(np.float32)
    d = np.hypot(yy - CENTRE[0] - shift_mm, xx - CENTRE[1]) - RADIUS
    p1 = np.where(d < -band_mm, 0.95, np.where(d > band_mm, 0.05, 0.5))
    spot = np.hypot(yy - BLOB_CENTRE[0], xx - BLOB_CENTRE[1]) <= BLOB_RADIUS
    if blob:
        p1[spot] = BLOB_P
    probs = np.stack([1 - p1, p1]).astype(np.float32)[:, None]  # (C=2, z=1, y, x)
    return image[None], truth, spot, probs


def test_removes_spurious_blob_and_keeps_the_object() -> None:
    image, truth, spot, probs = scene(1.5, shift_mm=0.0, band_mm=0.0)
    assert (probs.argmax(0)[0][spot] == 1).all() and spot.sum() >= 9  # the network's blob is there
    refined = crf_refine(probs, image, (1.5, 1.5), CRFConfig()).argmax(0)[0]
    assert not refined[spot].any()  # blob removed
    assert (refined == truth).all()  # object untouched, nothing else changed
    # the paper's sigmas read as pixels (unit_mm = spacing): kernels too small, most of the blob survives
    pixel_reading = crf_refine(probs, image, (1.5, 1.5), CRFConfig(unit_mm=1.5)).argmax(0)[0]
    assert pixel_reading[spot].mean() > 0.5


def test_snaps_uncertain_shifted_boundary_to_image_edge() -> None:
    image, truth, _, probs = scene(1.5, blob=False)
    before = dice(probs.argmax(0)[0] == 1, truth)
    after = dice(crf_refine(probs, image, (1.5, 1.5), CRFConfig()).argmax(0)[0] == 1, truth)
    # threshold: the Dice of a mask whose boundary is one pixel (1.5 mm) inside the true one everywhere
    one_px_off = dice(ndimage.binary_erosion(truth), truth)
    assert before < one_px_off < after, (before, one_px_off, after)
    assert after > 0.95


def test_same_physical_result_at_two_spacings() -> None:
    """0.75 mm (LGE-like) vs 1.5 mm (cine-like): marginals of the fine result averaged over 2 x 2 blocks give
    the coarse result; the blob is removed at both (with sigmas in pixels it would survive on the fine grid)."""
    fine, coarse = 0.75, 1.5
    img_f, truth_f, spot_f, p_f = scene(fine)
    img_c, truth_c, spot_c, p_c = scene(coarse)
    q_f = crf_refine(p_f, img_f, (fine, fine), CRFConfig())[:, 0]
    q_c = crf_refine(p_c, img_c, (coarse, coarse), CRFConfig())[:, 0]
    c, h, w = q_f.shape
    lab_f2c = q_f.reshape(c, h // 2, 2, w // 2, 2).mean((2, 4)).argmax(0)
    lab_c = q_c.argmax(0)
    assert (lab_f2c == lab_c).mean() > 0.99
    assert dice(lab_f2c == 1, lab_c == 1) > 0.98
    assert not q_f.argmax(0)[spot_f].any() and not lab_c[spot_c].any()
    assert dice(q_f.argmax(0) == 1, truth_f) > 0.95 and dice(lab_c == 1, truth_c) > 0.95
    # ignoring the spacing (the fine grid treated as 1.5 mm) halves the physical sigmas: the blob survives
    wrong = crf_refine(p_f, img_f, (coarse, coarse), CRFConfig())[:, 0].argmax(0)
    assert wrong[spot_f].mean() > 0.5


def test_marginals_and_bad_input() -> None:
    _, _, _, probs = scene(3.0)
    image = np.zeros(probs.shape[1:], np.float32)
    q = crf_refine(np.repeat(probs, 2, axis=1), np.repeat(image, 2, axis=0), (3.0, 3.0))
    assert q.shape == (2, 2, *probs.shape[2:]) and q.dtype == np.float32
    assert np.allclose(q.sum(0), 1.0, atol=1e-4) and np.array_equal(q[:, 0], q[:, 1])  # slice by slice
    with pytest.raises(ValueError, match="same grid"):
        crf_refine(probs, image[:, :-1], (3.0, 3.0))
    with pytest.raises(ValueError, match="spacing"):
        crf_refine(probs, image, (0.0, 3.0))


def test_predictor_and_cli_apply_the_crf(phantom_root, tmp_path) -> None:
    """Plumbing: with zero pairwise weights the CRF is the identity on the argmax (labels equal the plain
    prediction); with the default CRF the stage is timed and ``cmrseg predict --crf`` writes a valid map."""
    ckpt = train(load_config(None, tiny_overrides(phantom_root, tmp_path, "crf"))) / "checkpoints" / "best.pt"
    src = phantom_root / "patient004" / "patient004_frame01.nii.gz"
    case = read_volume(src)
    plain = Predictor.from_checkpoint(ckpt).predict_case(case, return_probabilities=True)
    null = Predictor.from_checkpoint(ckpt, post=PostprocessConfig(crf=CRFConfig(w_appearance=0, w_smoothness=0)))
    assert np.array_equal(null.predict_case(case).label, plain.label)
    refined = Predictor.from_checkpoint(ckpt, post=PostprocessConfig(crf=CRFConfig()))
    pred = refined.predict_case(case, return_probabilities=True)
    assert "crf" in refined.timings and pred.probabilities.shape == plain.probabilities.shape
    assert np.allclose(pred.probabilities.sum(0), 1.0, atol=1e-4)
    res = CliRunner().invoke(app, ["predict", str(src), "-o", str(tmp_path / "p.nii.gz"), "-c", str(ckpt), "--crf"])
    assert res.exit_code == 0, res.output
    out = np.asarray(nib.load(tmp_path / "p.nii.gz").dataobj)
    assert out.shape == nib.load(src).shape and set(np.unique(out)) <= {0, 1, 2, 3}
