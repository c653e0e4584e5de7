"""Device selection: CPU everywhere; accelerators fail fast with a clear message when absent, and where one is
present (GPU machines) training and prediction run on it and agree with the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from testkit import tiny_overrides

from cmrseg.config import load_config
from cmrseg.device import batch_to, module_device, resolve_device
from cmrseg.engine import train
from cmrseg.errors import ConfigError

HAS_CUDA = torch.cuda.is_available()


def test_resolve_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    if HAS_CUDA:
        assert resolve_device("auto").type == "cuda"
    elif not torch.backends.mps.is_available():
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="checks the message for machines without a GPU")
def test_missing_gpu_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="sees no CUDA GPU.*use device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("spec", ["gpu0", "tpu", "cuda:x"])
def test_unknown_device_names(spec: str) -> None:
    with pytest.raises(ConfigError, match="cpu, cuda"):
        resolve_device(spec)


def test_batch_to_moves_nested_tensors_only() -> None:
    batch = {"image": torch.zeros(2, 1, 4, 4), "meta": ["a", 3], "pair": (torch.ones(1), "x")}
    out = batch_to(batch, torch.device("cpu"))
    assert out["image"] is batch["image"]  # already there: no copy
    assert out["meta"] == ["a", 3] and out["pair"][1] == "x" and isinstance(out["pair"], tuple)
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: CPU


@pytest.mark.skipif(HAS_CUDA, reason="checks the message for machines without a GPU")
def test_training_on_a_missing_gpu_fails_before_any_work(phantom_root: Path, tmp_path: Path) -> None:
    cfg = load_config(None, tiny_overrides(phantom_root, tmp_path) + ["train.device=cuda"])
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        train(cfg)
    assert not (tmp_path / "runs" / "t").exists()  # nothing written


def test_explicit_cpu_device_trains(phantom_root: Path, tmp_path: Path) -> None:
    run = train(load_config(None, tiny_overrides(phantom_root, tmp_path) + ["train.device=cpu"]))
    assert (run / "checkpoints" / "best.pt").is_file()


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_training_and_prediction_match_cpu(phantom_root: Path, tmp_path: Path) -> None:  # pragma: no cover
    from cmrseg.inference import Predictor
    from cmrseg.io import load_dataset, load_ref

    run = train(load_config(None, tiny_overrides(phantom_root, tmp_path) + ["train.device=cuda"]))
    ckpt = run / "checkpoints" / "best.pt"
    ref = load_dataset(phantom_root)[0]
    case = load_ref(ref)
    cpu = Predictor.from_checkpoint(ckpt, device="cpu", post=False).predict_case(case, True)
    gpu = Predictor.from_checkpoint(ckpt, device="cuda", post=False).predict_case(case, True)
    assert np.abs(cpu.probabilities - gpu.probabilities).max() < 1e-3
