"""Same seed and data -> the same model, bit for bit, and the same validation Dice; another seed -> another
model. Protocol: tiny phantom training (``tiny_overrides``), 6 iterations, validation every 3, one thread,
``optim.budget_minutes: null`` (a time budget makes the LR schedule depend on the clock)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from testkit import tiny_overrides


def _train(root: Path, out: Path, name: str, seed: int) -> tuple[dict[str, torch.Tensor], pd.DataFrame]:
    overrides = tiny_overrides(root, out, name) + [
        "optim.budget_minutes=null", "train.max_minutes=null", "optim.iterations=6", "train.val_every=3",
        "train.threads=1", f"train.seed={seed}"]
    run = train(load_config(None, overrides))
    weights = load_checkpoint(run / "checkpoints" / "last.pt")["model_state"]
    return weights, pd.read_csv(run / "history.csv")


def test_same_seed_same_weights_and_dice_other_seed_differs(phantom_root, tmp_path) -> None:
    # the second run reads the preprocessing cache the first one wrote: cached and fresh data must agree too
    w1, h1 = _train(phantom_root, tmp_path, "a", seed=7)
    w2, h2 = _train(phantom_root, tmp_path, "b", seed=7)
    w3, _ = _train(phantom_root, tmp_path, "c", seed=8)
    assert w1.keys() == w2.keys() and len(w1) > 0
    for k in w1:
        assert torch.equal(w1[k], w2[k]), f"{k} differs between two runs with the same seed"
    dice = [c for c in h1.columns if c.startswith("val/dice")]
    assert len(h1) == 2 and "val/dice_mean" in dice
    pd.testing.assert_frame_equal(h1[dice], h2[dice], check_exact=True)
    pd.testing.assert_frame_equal(h1.drop(columns="minutes"), h2.drop(columns="minutes"), check_exact=True)
    float_keys = [k for k in w1 if w1[k].is_floating_point()]
    assert any(not torch.equal(w1[k], w3[k]) for k in float_keys), "a different seed gave identical weights"
