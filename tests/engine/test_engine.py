"""The shared contract every method must pass: a finite training step on CPU, checkpoints that round-trip,
exact resume, determinism."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.methods.base import available_methods
from testkit import assert_resume_equals_uninterrupted, tiny_overrides


ROUND_METHODS = {"self-training"}  # several engine runs per method: tests/methods/test_self_training.py
# need a shape-ae model, a position head or a pre-trained AE checkpoint: tests/methods/test_shape_prior.py;
# a translator model or a trained translator checkpoint: tests/methods/test_translator_method.py
SETUP_METHODS = {"registration", "shape-ae", "scn", "srnn", "srscn", "acnn", "label2image", "synthetic-unsupervised"}


@pytest.mark.parametrize("method", sorted(set(available_methods()) - ROUND_METHODS - SETUP_METHODS))
def test_every_method_trains_and_checkpoints(method: str, phantom_root, tmp_path) -> None:
    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path, method) + [f"method.name={method}"])
    run = train(cfg)
    hist = pd.read_csv(run / "history.csv")
    assert len(hist) == 2 and hist["loss/total"].notna().all()
    assert torch.isfinite(torch.tensor(hist["loss/total"].values)).all()
    assert 0.0 <= hist["val/dice_mean"].iloc[-1] <= 1.0
    ck = load_checkpoint(run / "checkpoints" / "best.pt")  # weights_only=True inside
    model = model_from_checkpoint(ck)
    x = torch.randn(2, 1, 64, 64)
    assert model(x)["logits"].shape == (2, 4, 64, 64)
    assert (run / "config.yaml").exists() and (run / "tb").is_dir()


def test_resume_equals_uninterrupted(phantom_root, tmp_path) -> None:
    assert_resume_equals_uninterrupted(tiny_overrides(phantom_root, tmp_path))


def test_same_seed_same_metrics(phantom_root, tmp_path) -> None:
    base = tiny_overrides(phantom_root, tmp_path)
    h1 = pd.read_csv(train(load_config(None, base + ["train.name=s1"])) / "history.csv")
    h2 = pd.read_csv(train(load_config(None, base + ["train.name=s2"])) / "history.csv")
    pd.testing.assert_frame_equal(h1.drop(columns="minutes"), h2.drop(columns="minutes"))


def test_existing_run_is_not_overwritten(phantom_root, tmp_path) -> None:
    from cmrseg.errors import ConfigError

    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path, "dup"))
    train(cfg)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg)
