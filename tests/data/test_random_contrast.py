"""Domain-randomised synthetic pairs: what the painter keeps (labels, the blood-brighter order, normalisation),
what it randomises (contrast, background clutter), and the stream / config around it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.data.random_contrast import RandomContrastConfig, random_contrast_images
from cmrseg.data.streams import PatchStream
from cmrseg.data.synthetic_pairs import RandomContrastPainter, SyntheticPairStream
from cmrseg.engine import train
from cmrseg.engine.trainer import build_data
from cmrseg.errors import ConfigError
from cmrseg.labels import LV, MYO, RV
from cmrseg.methods.base import create_method
from testkit import heart_maps, tiny_overrides

# every distortion off: each class is painted with one flat intensity
FLAT = RandomContrastConfig(class_std=(0, 0), downsample=(1, 1), blur_sigma_px=(0, 0), bias_std=0, gamma_log_std=0,
                            noise_std=(0, 0), distractors=0, clip_percentiles=(0, 100))


def test_same_rng_same_images_and_every_class_flat_without_distortions() -> None:
    lab = heart_maps()
    valid = torch.ones(lab.shape[0], 1, *lab.shape[1:])
    a = random_contrast_images(lab, valid, np.random.default_rng(3))
    assert a.shape == valid.shape and torch.isfinite(a).all()
    assert torch.equal(a, random_contrast_images(lab, valid, np.random.default_rng(3)))
    assert not torch.allclose(a, random_contrast_images(lab, valid, np.random.default_rng(4)))
    flat = random_contrast_images(lab, valid, np.random.default_rng(3), FLAT)
    for i in range(lab.shape[0]):
        for c in (LV, MYO, RV):
            v = flat[i, 0][lab[i] == c]
            assert float(v.max() - v.min()) < 1e-4  # one intensity per heart class: labels are kept exactly


def test_blood_is_brighter_than_myocardium_by_the_margin_unless_switched_off() -> None:
    lab = heart_maps(32)
    valid = torch.ones(32, 1, *lab.shape[1:])
    x = random_contrast_images(lab, valid, np.random.default_rng(0), FLAT)
    bg_std = []
    for i in range(32):
        means = {c: float(x[i, 0][lab[i] == c].mean()) for c in (LV, MYO, RV)}
        span = float(x[i].max() - x[i].min())  # FLAT: z-scoring is affine, so margins scale with the span
        assert means[LV] - means[MYO] >= 0.2 * span - 1e-4 and means[RV] - means[MYO] >= 0.2 * span - 1e-4
        bg_std.append(float(x[i, 0][lab[i] == 0].std()))
    assert min(bg_std) > 0  # the background is split into several regions, never one flat field
    free = random_contrast_images(lab, valid, np.random.default_rng(0),
                                  FLAT.model_copy(update={"blood_brighter": False}))
    darker = [float(free[i, 0][lab[i] == LV].mean()) < float(free[i, 0][lab[i] == MYO].mean()) for i in range(32)]
    assert 4 <= sum(darker) <= 28  # any contrast: roughly half the images have a dark LV


def test_distractors_are_painted_on_the_background_only() -> None:
    lab = heart_maps(8)
    valid = torch.ones(8, 1, *lab.shape[1:])
    cfg = FLAT.model_copy(update={"distractors": 12, "distractor_radius_px": (10.0, 20.0)})
    x = random_contrast_images(lab, valid, np.random.default_rng(1), cfg)
    for i in range(8):
        v = x[i, 0][lab[i] == LV]
        assert float(v.max() - v.min()) < 1e-4
    none = random_contrast_images(lab, valid, np.random.default_rng(1), FLAT)
    levels = [len(torch.unique(x[i, 0][lab[i] == 0].round(decimals=4))) for i in range(8)]
    levels0 = [len(torch.unique(none[i, 0][lab[i] == 0].round(decimals=4))) for i in range(8)]
    assert sum(levels) > sum(levels0)  # ellipses add background intensities


def test_output_is_z_scored_on_valid_pixels_and_zero_on_padding() -> None:
    lab = heart_maps(4)
    valid = torch.ones(4, 1, *lab.shape[1:])
    valid[:, :, :, :10] = 0
    x = random_contrast_images(lab, valid, np.random.default_rng(0))
    assert bool((x[:, :, :, :10] == 0).all())
    inside = x[:, 0, :, 10:].reshape(4, -1)
    assert torch.allclose(inside.mean(1), torch.zeros(4), atol=1e-4)
    assert torch.allclose(inside.std(1), torch.ones(4), atol=1e-3)


def test_bad_ranges_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="blur_sigma_px"):
        RandomContrastConfig(blur_sigma_px=(2.0, 1.0))
    with pytest.raises(ValueError, match="extra"):
        RandomContrastConfig(colour=1)
    with pytest.raises(ValueError, match=r"\(B, P, P\)"):
        random_contrast_images(torch.zeros(2, 1, 8, 8, dtype=torch.long), torch.ones(2, 1, 8, 8),
                               np.random.default_rng(0))


def _random_stream(root: Path, out: Path, name: str, params: str = "{}") -> list[str]:
    return tiny_overrides(root, out, name) + [
        "method.name=synthetic-unsupervised", "data.labelled=1", "model.params.output=nested",
        "model.params.bias_head=true",
        f"data.synthetic={{synthetic: {{source: random_contrast, pool: labelled, params: {params}}}}}"]


def test_random_contrast_stream_paints_the_cropped_label_maps(phantom_root: Path, tmp_path: Path) -> None:
    cfg = load_config(None, _random_stream(phantom_root, tmp_path, "s"))
    stream = build_data(cfg, create_method(cfg.method)).streams["synthetic"]
    assert isinstance(stream, SyntheticPairStream) and isinstance(stream.painter, RandomContrastPainter)
    state = copy.deepcopy(stream.rng.bit_generator.state)
    a = next(stream)
    again = PatchStream(stream.labels.bank, 4, 64, cfg.data.foreground_p)  # replay: same crops, then the paint
    again.rng.bit_generator.state = state
    real = next(again)
    assert torch.equal(real["label"], a["label"]) and not torch.allclose(real["image"], a["image"])
    want = random_contrast_images(real["label"], real["valid"], again.rng, stream.painter.cfg)
    assert torch.equal(a["image"], want)


def test_config_errors_name_the_stream_and_the_fix(phantom_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs translator"):
        load_config(None, tiny_overrides(phantom_root, tmp_path) + ["data.synthetic={s: {pool: labelled}}"])
    with pytest.raises(ValueError, match="without a translator"):
        load_config(None, tiny_overrides(phantom_root, tmp_path) + [
            "data.synthetic={s: {source: random_contrast, translator: x.pt}}"])
    with pytest.raises(ConfigError, match=r"(?s)synthetic\.synthetic.*params.*blur_sigma_px must be"):
        load_config(None, _random_stream(phantom_root, tmp_path, "bad", "{blur_sigma_px: [2, 1]}"))
    with pytest.raises(ConfigError, match=r"(?s)synthetic\.synthetic.*params.*colour: Extra inputs"):
        load_config(None, _random_stream(phantom_root, tmp_path, "typo", "{colour: 1}"))


def test_segmenter_trains_on_random_contrast_pairs_end_to_end(phantom_root: Path, tmp_path: Path,
                                                             one_thread: None) -> None:
    hist = pd.read_csv(train(load_config(None, _random_stream(phantom_root, tmp_path, "seg"))) / "history.csv")
    for col in ("loss/dice_ce@synthetic", "loss/ms_nested@unlabelled", "loss/total", "val/dice_mean"):
        assert torch.isfinite(torch.tensor(hist[col].values)).all(), col


def test_tied_blood_and_papillary_muscles() -> None:
    lab = heart_maps(16)
    valid = torch.ones(16, 1, *lab.shape[1:])
    cfg = FLAT.model_copy(update={"blood_jitter": 0.05, "papillary": 6})
    x = random_contrast_images(lab, valid, np.random.default_rng(2), cfg)
    with_muscle = 0
    for i in range(16):
        lv, myo, rv = (x[i, 0][lab[i] == c] for c in (LV, MYO, RV))
        # scale-free (z-scoring is affine): blood - myocardium >= 0.2 and |RV - LV| <= 0.05 before it
        assert abs(float(rv.mean() - lv.max())) <= 0.25 * float(lv.max() - myo[0]) + 1e-4
        levels = torch.unique(lv.round(decimals=4))
        assert len(levels) <= 2 and float(levels.max()) == pytest.approx(float(lv.max()), abs=1e-3)
        if len(levels) == 2:  # a muscle: dark as the myocardium, still labelled LV
            with_muscle += 1
            assert float(levels.min()) == pytest.approx(float(myo[0]), abs=1e-4)
    assert with_muscle >= 8  # six candidates at p 0.5: nearly every image has one
