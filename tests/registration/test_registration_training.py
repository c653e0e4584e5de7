"""The 'registration' method trains a vxm-2d model through the one engine on the phantom."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.data.cache import PreprocessedCache
from cmrseg.data.preprocess import PreprocessConfig
from cmrseg.engine import train
from cmrseg.errors import ConfigError
from cmrseg.io import load_dataset
from cmrseg.registration.pairs import PairStream, PhasePair, phase_pairs
from cmrseg.registration.registrators import LearnedRegistrator, warp_image
from cmrseg.transforms.intensity import IntensityAugConfig
from cmrseg.transforms.spatial import SpatialAugConfig
from testkit import assert_resume_equals_uninterrupted, tiny_overrides

REG = ["method.name=registration", "model.name=vxm-2d", "model.params={features: [4, 8, 16], integration_steps: 4}"]


def test_training_improves_similarity_and_checkpoint_registers(phantom_root, tmp_path) -> None:
    # image similarity + smoothness only, on whole fields of view (what is measured below)
    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path, "reg") + REG + [
        "optim.iterations=16", "train.val_every=8", "optim.lr=1e-2", "augment.enabled=false", "data.patch=null",
        "method.terms=[{loss: reg_mse, stream: pairs}, {loss: reg_grad, stream: pairs, weight: 0.1}]"])
    run = train(cfg)
    hist = pd.read_csv(run / "history.csv")
    assert len(hist) == 2
    assert {"loss/reg_mse@pairs", "loss/reg_grad@pairs", "val/prop_dice_mean", "val/neg_jacobian_share"} <= set(hist)
    assert 0.0 <= hist["val/prop_dice_mean"].iloc[-1] <= 1.0

    LearnedRegistrator.from_checkpoint(run / "checkpoints" / "best.pt")  # best = by propagation Dice
    reg = LearnedRegistrator.from_checkpoint(run / "checkpoints" / "last.pt")
    assert reg.preprocess.fov_px == 96  # taken from the checkpoint
    cache = PreprocessedCache(tmp_path / "cache", reg.preprocess)
    (_, ed, es), = phase_pairs([r for r in load_dataset(phantom_root) if r.split == "val"])
    a, b = cache.get(ed), cache.get(es)
    for mov, fix in ((a, b), (b, a)):
        disp = reg.register(mov.image, fix.image)
        assert disp.shape == (mov.image.shape[0], 2, 96, 96)
        before = np.mean((mov.image - fix.image) ** 2)
        after = np.mean((warp_image(mov.image, disp) - fix.image) ** 2)
        assert after < 0.97 * before, (before, after)  # measured: 0.0723 -> 0.0669


def test_registration_needs_a_registration_model(phantom_root, tmp_path) -> None:
    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path, "bad") + ["method.name=registration"])
    with pytest.raises(ConfigError, match="vxm-2d"):
        train(cfg)


def test_pair_stream_augments_both_frames_alike(phantom_root, tmp_path) -> None:
    cache = PreprocessedCache(tmp_path / "c", PreprocessConfig(target_spacing=2.5, fov_px=96))
    (patient, ed, _), = phase_pairs([r for r in load_dataset(phantom_root) if r.split == "val"])
    vol = cache.get(ed)
    same = PhasePair(patient, vol, vol)  # moving == fixed: paired augmentation must keep them equal
    stream = PairStream([same], 6, 64, spatial=SpatialAugConfig(p=1.0),
                        intensity=IntensityAugConfig(p=1.0, noise_std=0), seed=1)
    b = next(stream)
    assert b["moving"].shape == (6, 1, 64, 64) and b["moving_label"].shape == (6, 64, 64)
    assert torch.allclose(b["moving"], b["fixed"]) and torch.equal(b["moving_label"], b["fixed_label"])
    assert b["has_label"].all() and stream.augment is False
    assert b["moving_label"].max() > 0  # crops centred on the heart
    plain = next(PairStream([same], 6, 64, seed=1))
    assert not torch.allclose(plain["moving"], b["moving"])  # augmentation did change the images


def test_resume_equals_uninterrupted(phantom_root, tmp_path) -> None:
    assert_resume_equals_uninterrupted(tiny_overrides(phantom_root, tmp_path) + REG)  # paired augmentation on
