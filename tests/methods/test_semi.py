"""The semi-supervised core: mixed views with known answers, pseudo-labels from the engine's mean teacher, and
resumed training equal to uninterrupted training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cmrseg.config import load_config
from cmrseg.config.schema import MethodConfig
from cmrseg.engine import train
from cmrseg.engine.step import training_loss
from cmrseg.errors import ConfigError
from cmrseg.labels import UNANNOTATED
from cmrseg.methods.base import StepContext, create_method
from cmrseg.models.unet import UNet2D
from cmrseg.transforms.mixing import copy_paste, cutmix, random_box
from testkit import assert_resume_equals_uninterrupted, tiny_overrides


def test_random_box_has_the_asked_side_and_stays_inside() -> None:
    box = random_box(50, (30, 40), 0.5, torch.Generator().manual_seed(0))
    assert box.shape == (50, 1, 30, 40)
    assert torch.all(box.sum((1, 2, 3)) == 15 * 20)  # 0.5 x 30 by 0.5 x 40, wherever it lands


def test_copy_paste_mixes_images_and_targets_with_the_same_box() -> None:
    lab_img, unl_img = torch.ones(2, 1, 12, 12), torch.zeros(2, 1, 12, 12)
    label = torch.full((2, 12, 12), 3)
    pseudo = torch.full((2, 12, 12), UNANNOTATED)
    images, targets = copy_paste(lab_img, label, unl_img, pseudo, 0.5, torch.Generator().manual_seed(1))
    assert images.shape == (4, 1, 12, 12) and targets.shape == (4, 12, 12)
    inside = images[0, 0] == 1  # the unlabelled slice with the labelled box
    assert inside.sum() == 36 and torch.equal(images[2, 0] == 0, inside)  # the reverse box in the other
    assert torch.all(targets[0][inside] == 3) and torch.all(targets[0][~inside] == UNANNOTATED)
    assert torch.all(targets[2][inside] == UNANNOTATED) and torch.all(targets[2][~inside] == 3)


def test_cutmix_moves_the_target_with_the_image() -> None:
    image = torch.arange(4.0)[:, None, None, None].expand(4, 1, 16, 16).clone()
    target = torch.arange(4)[:, None, None].expand(4, 16, 16).clone()
    mixed, mixed_t = cutmix(image, target, p=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mixed[:, 0].long(), mixed_t)  # every pixel's target is its image's source sample
    assert all((mixed[i] != i).any() for i in range(4))  # each got a box of another sample


def _ctx(model, teacher=None):  # type: ignore[no-untyped-def]
    return StepContext(model, 0, None, teacher, torch.Generator().manual_seed(0))


def test_pseudo_labels_come_from_the_teacher_and_ignore_unsure_pixels() -> None:
    method = create_method(MethodConfig(name="semi-supervised", params={"threshold": 0.9}))
    student = UNet2D(features=(4, 8))

    class Sure(torch.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            logits = torch.zeros(x.shape[0], 4, *x.shape[-2:])
            logits[:, 3, :, :8] = 10.0  # confident LV on the left half, a 4-way tie on the right
            return {"logits": logits}

    pseudo = method.pseudo_labels(torch.randn(2, 1, 16, 16), _ctx(student, Sure()))
    assert torch.all(pseudo[:, :, :8] == 3) and torch.all(pseudo[:, :, 8:] == UNANNOTATED)


def test_one_step_trains_on_labelled_strong_and_copy_paste_views() -> None:
    method = create_method(MethodConfig(name="semi-supervised", params={"teacher": "self", "threshold": 0.0}))
    model = UNet2D(features=(4, 8))
    batches = {"labelled": {"image": torch.randn(2, 1, 32, 32), "label": torch.randint(0, 4, (2, 32, 32))},
               "unlabelled": {"image": torch.randn(3, 1, 32, 32)}}
    loss, logs = training_loss(method, batches, _ctx(model))
    assert torch.isfinite(loss)
    assert {"loss/dice_ce@labelled", "loss/masked_dice_ce@strong", "loss/masked_dice_ce@copy_paste"} <= set(logs)
    loss.backward()
    assert model.head.weight.grad.abs().sum() > 0


def test_an_ema_teacher_needs_optim_ema(phantom_root: Path, tmp_path: Path) -> None:
    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path) + ["method.name=semi-supervised",
                                                                      "data.labelled=1"])
    with pytest.raises(ConfigError, match="optim.ema"):
        train(cfg)


def test_resumed_semi_supervised_run_equals_uninterrupted(phantom_root: Path, tmp_path: Path, one_thread: None) -> None:
    """The teacher's EMA weights, the random views' generator and the streams all travel in the checkpoint."""
    base = tiny_overrides(phantom_root, tmp_path) + ["method.name=semi-supervised", "data.labelled=1",
                                                     "optim.ema=0.9", "optim.iterations=3", "train.val_every=100",
                                                     "method.params={threshold: 0.0}"]
    assert_resume_equals_uninterrupted(base)
