"""EMA of the weights: the known recurrence, what the checkpoint holds, and exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from testkit import assert_resume_equals_uninterrupted, tiny_overrides

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.engine.ema import make_ema
from cmrseg.errors import ConfigError


def test_ema_follows_the_recurrence() -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema = make_ema(net, 0.5)
    ema.update_parameters(net)  # first update copies: 1
    for w, expected in ((3.0, 2.0), (3.0, 2.5), (-1.0, 0.75)):  # 0.5 * previous + 0.5 * w
        with torch.no_grad():
            net.weight.fill_(w)
        ema.update_parameters(net)
        assert float(ema.module.weight.detach()) == pytest.approx(expected)
    assert make_ema(net, None) is None
    with pytest.raises(ConfigError, match="decay in"):
        make_ema(net, 1.5)


def test_checkpoint_holds_averaged_and_raw_weights(phantom_root: Path, tmp_path: Path) -> None:
    run = train(load_config(None, tiny_overrides(phantom_root, tmp_path) + ["optim.ema=0.5", "optim.lr=0.05"]))
    ck = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ck["ema_n_averaged"] == 4  # one update per iteration
    ema, raw = ck["model_state"], ck["train_model_state"]
    assert ema.keys() == raw.keys()
    conv = next(k for k in ema if k.endswith("weight") and ema[k].ndim == 4)
    assert not torch.equal(ema[conv], raw[conv])  # the averaged weights lag the raw ones


def test_resume_with_ema_equals_uninterrupted(phantom_root: Path, tmp_path: Path, one_thread: None) -> None:
    assert_resume_equals_uninterrupted(tiny_overrides(phantom_root, tmp_path) + ["optim.ema=0.9"])


def test_resuming_a_run_without_ema_with_ema_is_refused(phantom_root: Path, tmp_path: Path) -> None:
    base = tiny_overrides(phantom_root, tmp_path)
    train(load_config(None, base))
    with pytest.raises(ConfigError, match="without optim.ema"):
        train(load_config(None, base + ["optim.ema=0.9"]), resume=True)
