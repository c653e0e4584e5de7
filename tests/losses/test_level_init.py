"""level_init: multi-Otsu targets with known answers, the loss ordering, and the term's stop iteration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmrseg.config.schema import TermConfig
from cmrseg.errors import ConfigError
from cmrseg.losses.level_init import LevelInit, multiotsu_levels
from cmrseg.losses.registry import create_loss
from cmrseg.methods.base import term_scale


def four_regions(noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """32 x 32 image of 4 vertical bands at levels 0, 1, 2, 3 (+ noise) and the band index map."""
    bands = np.repeat(np.arange(4), 8)[None, :].repeat(32, 0)
    return bands + np.random.default_rng(seed).normal(0, noise, bands.shape), bands


def test_levels_recover_a_noisy_piecewise_constant_image() -> None:
    img, bands = four_regions()
    assert (multiotsu_levels(img, 4) == bands).mean() == 1.0
    assert (multiotsu_levels(np.ones((4, 4)), 4) == 0).all()  # too few distinct values: one level


def test_levels_use_only_valid_pixels() -> None:
    img, bands = four_regions()
    img[:, :2] = 100.0  # padding far brighter than everything else
    valid = np.ones_like(img, bool)
    valid[:, :2] = False
    assert (multiotsu_levels(img, 4, valid)[:, 2:] == bands[:, 2:]).all()
    assert not (multiotsu_levels(img, 4)[:, 2:] == bands[:, 2:]).all()  # unmasked, the padding takes a level


def test_loss_prefers_the_ordered_partition() -> None:
    img, bands = four_regions()
    image = torch.from_numpy(img).float()[None, None]
    order = [0, 2, 1, 3]
    loss = create_loss("level_init", {"order": order})
    right = torch.nn.functional.one_hot(torch.from_numpy(np.asarray(order)[bands]), 4).permute(2, 0, 1)[None] * 10.0
    wrong = torch.nn.functional.one_hot(torch.from_numpy(bands), 4).permute(2, 0, 1)[None] * 10.0
    l_right = float(loss({"logits": right.float()}, {"image": image}))
    l_wrong = float(loss({"logits": wrong.float()}, {"image": image}))
    assert l_right < 1e-3 < 1.0 < l_wrong
    padded = image.clone()
    padded[..., :2] = 100.0  # padding: far too bright, and the logits there say "class 3"
    garbage = right.clone().float()
    garbage[:, :, :, :2] = torch.tensor([0.0, 0.0, 0.0, 10.0])[None, :, None, None]
    valid = torch.ones_like(image)
    valid[..., :2] = 0.0
    assert float(loss({"logits": garbage}, {"image": padded, "valid": valid})) < 1e-3
    assert float(loss({"logits": garbage}, {"image": padded})) > 0.1


def test_order_must_be_a_permutation() -> None:
    with pytest.raises(ConfigError, match="each class code"):
        LevelInit(order=[0, 1, 1, 3])


def test_term_stop_switches_the_term_off() -> None:
    t = TermConfig(loss="level_init", start=0, stop=100)
    assert term_scale(t, 0) == 1.0 and term_scale(t, 99) == 1.0 and term_scale(t, 100) == 0.0
    with pytest.raises(ValueError, match="stop"):
        TermConfig(loss="level_init", start=50, stop=50)


def test_a_stopped_term_is_not_computed() -> None:
    from cmrseg.config.schema import MethodConfig
    from cmrseg.engine.step import training_loss
    from cmrseg.methods.base import StepContext, create_method
    from cmrseg.models.registry import ModelConfig, create_model

    terms = [TermConfig(loss="dice_ce", stream="labelled"), TermConfig(loss="level_init", stream="labelled", stop=2)]
    method = create_method(MethodConfig(name="supervised", terms=terms))
    model = create_model(ModelConfig(params={"features": [4, 8, 16]}))
    img, bands = four_regions()
    batch = {"labelled": {"image": torch.from_numpy(img).float()[None, None], "label": torch.from_numpy(bands)[None]}}
    _, before = training_loss(method, batch, StepContext(model, 1))
    _, after = training_loss(method, batch, StepContext(model, 2))
    assert "loss/level_init@labelled" in before and "loss/level_init@labelled" not in after


def test_median_filter_stops_the_background_noise_from_taking_a_level() -> None:
    # a synthetic shapes slice at the top noise level (sigma 0.05, levels >= 0.1 apart, background 85 % of the
    # pixels): multi-Otsu on the raw image splits the background's noise and labels about half the pixels wrong;
    # after a 3 x 3 median the levels are the four structures
    from cmrseg.data.preprocess import normalise_intensity
    from cmrseg.data.shapes import make_shapes_slice

    image, label, _ = make_shapes_slice(np.random.default_rng(0), noise=(0.05, 0.05))
    x = torch.from_numpy(normalise_intensity(image))[None, None]
    raw = LevelInit(order=[0, 2, 1, 3]).targets(x, None)[0].numpy()
    denoised = LevelInit(order=[0, 2, 1, 3], median=3).targets(x, None)[0].numpy()
    assert (raw == label).mean() < 0.6
    assert (denoised == label).mean() > 0.99
    with pytest.raises(ConfigError, match="median"):
        LevelInit(median=-1)


def test_nested_models_get_a_binary_cross_entropy_per_sigmoid() -> None:
    from cmrseg.losses.level_init import nested_targets
    from cmrseg.models.heads import nested_logits

    img, bands = four_regions()
    image = torch.from_numpy(img).float()[None, None]
    order = [0, 2, 1, 3]  # BG < Myo < RV < LV
    label = torch.from_numpy(np.asarray(order)[bands])[None]
    psi_true = nested_targets(label)
    assert psi_true.shape == (1, 3) + label.shape[1:]
    assert torch.equal(psi_true[:, 1], ((label == 3) | (label == 2)).float())  # LV+Myo
    loss = create_loss("level_init", {"order": order})

    def outputs(psi: torch.Tensor) -> dict[str, torch.Tensor]:
        psi = psi.clamp(1e-4, 1 - 1e-4)
        return {"psi": psi, "logits": nested_logits(psi)}

    assert float(loss(outputs(psi_true), {"image": image})) < 1e-3
    assert float(loss(outputs(1 - psi_true), {"image": image})) > 5.0
