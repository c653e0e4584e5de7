"""Contrast randomisation of a translator's images (``restyle_images``): what it keeps (labels, each heart class's
texture, the background's structure) and what it randomises (class means, background contrast), and its config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.data.random_contrast import RestyleConfig, restyle_images
from cmrseg.labels import LV, MYO, RV
from testkit import heart_maps, tiny_overrides

# every distortion off and heart textures flattened: each heart class gets one intensity
FLAT = RestyleConfig(texture_scale=(0, 0), downsample=(1, 1), blur_sigma_px=(0, 0), bias_std=0, gamma_log_std=0,
                     noise_std=(0, 0), clip_percentiles=(0, 100))


def translator_like(lab: torch.Tensor) -> torch.Tensor:
    """A 'translator image': the translator's own contrast (myocardium bright, LV dark: the opposite of the
    prior), a textured background ramp, and noise inside every class."""
    g = torch.Generator().manual_seed(0)
    base = torch.tensor([0.0, 0.5, 0.9, 0.1])[lab]
    ramp = torch.linspace(0, 0.4, lab.shape[-1]).expand_as(lab) * (lab == 0)
    return (base + ramp + 0.05 * torch.randn(lab.shape, generator=g))[:, None]


def test_labels_kept_blood_brighter_and_seeded() -> None:
    lab = heart_maps()
    valid = torch.ones(lab.shape[0], 1, *lab.shape[1:])
    img = translator_like(lab)
    x = restyle_images(img, lab, valid, np.random.default_rng(3), FLAT)
    assert x.shape == img.shape and torch.isfinite(x).all()
    assert torch.equal(x, restyle_images(img, lab, valid, np.random.default_rng(3), FLAT))
    assert not torch.allclose(x, restyle_images(img, lab, valid, np.random.default_rng(4), FLAT))
    for i in range(lab.shape[0]):
        v = {c: x[i, 0][lab[i] == c] for c in (LV, MYO, RV)}
        for c in v:
            assert float(v[c].max() - v[c].min()) < 1e-4  # one intensity per heart class: labels kept exactly
        span = float(x[i].max() - x[i].min())  # z-scoring is affine: margins scale with the span
        # the translator's dark LV / bright myocardium is replaced by the prior: blood brighter by >= 0.2
        assert float(v[LV][0] - v[MYO][0]) >= 0.2 * span - 1e-4 and float(v[RV][0] - v[MYO][0]) >= 0.2 * span - 1e-4


def test_heart_texture_is_the_translators_scaled() -> None:
    lab = heart_maps(8)
    valid = torch.ones(8, 1, *lab.shape[1:])
    img = translator_like(lab)
    cfg = FLAT.model_copy(update={"texture_scale": (1.0, 1.0)})
    x = restyle_images(img, lab, valid, np.random.default_rng(0), cfg)
    for i in range(8):
        for c in (LV, MYO, RV):
            a, b = img[i, 0][lab[i] == c], x[i, 0][lab[i] == c]
            assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) > 0.999  # same deviations, new mean


def test_background_goes_through_one_random_curve() -> None:
    lab = torch.zeros(4, 32, 32, dtype=torch.long)
    lab[:, 10:20, 10:20] = LV
    valid = torch.ones(4, 1, 32, 32)
    img = torch.linspace(0, 1, 32).repeat(4, 32, 1)[:, None]  # background = a ramp along x, equal along y
    x = restyle_images(img, lab, valid, np.random.default_rng(1), FLAT.model_copy(update={"lut_knots": 4}))
    bg = x[:, 0, 25:, :]  # rows below the heart: every row saw the same ramp, so every row is the same curve
    assert torch.allclose(bg, bg[:, :1].expand_as(bg), atol=1e-5)
    curves = bg[:, 0]
    assert not torch.allclose(curves[0], curves[1], atol=1e-2)  # each image its own curve
    # piecewise linear with 4 knots: the slope changes at most at the two interior knots
    slope = torch.diff(curves[0])
    assert (torch.diff(slope).abs() > 1e-3).sum() <= 4


def test_papillary_discs_are_dark_and_stay_lv() -> None:
    lab = heart_maps(16)
    valid = torch.ones(16, 1, *lab.shape[1:])
    x = restyle_images(translator_like(lab), lab, valid, np.random.default_rng(2),
                       FLAT.model_copy(update={"papillary": 6}))
    with_muscle = 0
    for i in range(16):
        levels = torch.unique(x[i, 0][lab[i] == LV].round(decimals=4))
        myo = float(x[i, 0][lab[i] == MYO][0])
        if len(levels) == 2:
            with_muscle += 1
            assert float(levels.min()) == pytest.approx(myo, abs=1e-3)
    assert with_muscle >= 8


def test_bad_input_and_config_are_refused(phantom_root: Path, tmp_path: Path) -> None:
    lab = heart_maps(2)
    with pytest.raises(ValueError, match=r"\(B, 1, P, P\)"):
        restyle_images(torch.zeros(2, 48, 48), lab, torch.ones(2, 1, 48, 48), np.random.default_rng(0))
    with pytest.raises(ValueError, match="texture_scale"):
        RestyleConfig(texture_scale=(2.0, 1.0))
    base = tiny_overrides(phantom_root, tmp_path)
    with pytest.raises(ValueError, match="set restyle: true"):
        load_config(None, base + ["data.synthetic={s: {translator: t.pt, params: {papillary: 4}}}"])
    with pytest.raises(ValueError, match="restyle is for translator streams"):
        load_config(None, base + ["data.synthetic={s: {source: random_contrast, restyle: true}}"])
    with pytest.raises(ValueError, match=r"RestyleConfig.*distractors: Extra inputs"):
        load_config(None, base + ["data.synthetic={s: {translator: t.pt, restyle: true, params: {distractors: 2}}}"])
    cfg = load_config(None, base + ["data.synthetic={s: {translator: t.pt, restyle: true, params: {papillary: 4}}}"])
    assert cfg.data.synthetic["s"].restyle
