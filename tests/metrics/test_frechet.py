"""Frechet distance: 0 for identical sets, the closed form for Gaussians, per-position grouping, U-Net features,
and the translator evaluation end to end on a tiny volume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmrseg.checkpoint import save_checkpoint
from cmrseg.metrics.frechet import (SegmenterFeatures, frechet_by_position, frechet_distance, frechet_from_stats,
                                    labelled_slices, translator_frechet)
from cmrseg.models.translator import Label2Image
from cmrseg.models.unet import UNet2D

pytestmark = pytest.mark.usefixtures("one_thread")


def _exact_samples(mu: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples whose empirical mean and (N - 1) covariance are exactly ``mu`` and ``cov``."""
    z = rng.standard_normal((n, len(mu)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: cov(z) = I
    return z @ np.linalg.cholesky(cov).T + mu


def test_identical_sets_give_zero() -> None:
    f = np.random.default_rng(0).standard_normal((50, 6))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_gaussians_match_the_closed_form() -> None:
    rng = np.random.default_rng(1)
    # diagonal covariances: ||mu1 - mu2||^2 + sum (s1 - s2)^2 with s the standard deviations
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    want = 1 + 0 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_from_stats(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(want)
    a = _exact_samples(mu1, np.diag(s1 ** 2), 40, rng)
    b = _exact_samples(mu2, np.diag(s2 ** 2), 60, rng)
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-8)
    # full covariances that commute (same eigenvectors): sum (sqrt(l1) - sqrt(l2))^2 over eigenvalues
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    l1, l2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    c1, c2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T
    want = float(((np.sqrt(l1) - np.sqrt(l2)) ** 2).sum())
    assert frechet_from_stats(np.zeros(3), c1, np.zeros(3), c2) == pytest.approx(want, rel=1e-8)


def test_singular_covariances_stay_finite() -> None:
    f = np.random.default_rng(2).standard_normal((3, 10))  # 3 samples in 10 dimensions: rank 2
    assert np.isfinite(frechet_distance(f, f + 1.0))
    assert frechet_distance(f, f + 1.0) == pytest.approx(10.0, rel=1e-3)  # a pure shift of 1 in 10 dims


def test_per_position_classes_group_their_own_samples() -> None:
    rng = np.random.default_rng(3)
    cls = np.repeat(np.arange(5), 20)
    real = rng.standard_normal((100, 2))
    fake = real.copy()
    fake[cls == 4] += 3.0  # only the apical class differs
    out = frechet_by_position(real, cls, fake, cls)
    assert list(out) == ["all", "base", "mid-base", "mid", "mid-apex", "apex"]
    assert all(out[k] == pytest.approx(0.0, abs=1e-6) for k in ("base", "mid-base", "mid", "mid-apex"))
    assert out["apex"] == pytest.approx(18.0, rel=1e-6) and 0 < out["all"] < out["apex"]
    assert np.isnan(frechet_by_position(real, cls, fake, np.zeros(100, int))["apex"])  # no fake apex slices


def test_unet_features_and_translator_evaluation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "unet.pt"
    save_checkpoint(path, UNet2D(features=(4, 8, 16)), {"model": {"name": "unet", "params": {"features": [4, 8, 16]}}})
    feats = SegmenterFeatures(path)
    assert feats(torch.randn(3, 1, 30, 30)).shape == (3, 16)  # padded to the divisor; bottleneck width
    label = np.zeros((6, 32, 32), np.uint8)
    for z in range(1, 5):  # labelled extent = slices 1..4
        label[z, 8:24, 8:24] = 2
        label[z, 12:20, 12:20] = 3
    vol = SimpleNamespace(image=np.random.default_rng(0).standard_normal((6, 32, 32)).astype(np.float32), label=label)
    images, labels, cls = labelled_slices([vol])
    assert images.shape == (4, 1, 32, 32) and labels.shape == (4, 32, 32) and cls.tolist() == [0, 1, 3, 4]
    assert labelled_slices([vol], n=2)[2].tolist() == [0, 4]
    out = translator_frechet(Label2Image(dim=4, n_res=1, mlp_dim=16), feats, [vol])
    assert np.isfinite(out["all"]) and out["all"] > 0 and set(out) >= {"base", "apex"}
