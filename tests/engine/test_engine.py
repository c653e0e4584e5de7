"""The shared contract every method must pass: a finite training step on CPU, checkpoints that round-trip,
exact resume, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from cmrseg.config import load_config
from cmrseg.engine import train
from testkit import assert_resume_equals_uninterrupted, tiny_overrides


# Every registered method trains, checkpoints and resumes from its own example config:
# tests/methods/test_contract.py (the shared method test).


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
