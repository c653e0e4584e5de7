"""train.init_from: fine-tuning starts from the given weights; a checkpoint of another architecture is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.errors import ConfigError
from testkit import tiny_overrides

pytestmark = pytest.mark.usefixtures("one_thread")


def test_init_from_loads_weights_and_refuses_a_different_model(phantom_root: Path, tmp_path: Path) -> None:
    base = train(load_config(None, tiny_overrides(phantom_root, tmp_path, "base")))
    ck = base / "checkpoints" / "best.pt"
    ov = tiny_overrides(phantom_root, tmp_path, "ft") + [f"train.init_from={ck}", "optim.iterations=1",
                                                        "optim.lr=1e-12", "optim.warmup=0"]
    ft = train(load_config(None, ov))
    a, b = load_checkpoint(ck)["model_state"], load_checkpoint(ft / "checkpoints" / "last.pt")["model_state"]
    for k in a:
        if a[k].is_floating_point() and "running" not in k:
            torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)  # one step at lr ~0 keeps the weights
    bad = tiny_overrides(phantom_root, tmp_path, "bad") + [f"train.init_from={ck}",
                                                         "model.params={position_head: true}"]
    with pytest.raises(ConfigError, match="does not fit model unet"):
        train(load_config(None, bad))
