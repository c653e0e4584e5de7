"""Checkpoints are loaded with ``torch.load(weights_only=True)``: a pickle that would run code is refused, and
the code never runs. The first test proves the payload is live (it does run under ``weights_only=False``), so the
refusal below is a real one."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from cmrseg.checkpoint import load_checkpoint
from cmrseg.errors import InputError


class Payload:
    """Unpickling this object creates ``marker`` (a stand-in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _evil(path: Path, marker: Path, fmt: str) -> Path:
    payload = {"format": "cmrseg-checkpoint-v1", "model_state": {"w": torch.zeros(2)}, "config": {},
               "extra": Payload(marker)}
    if fmt == "zip":  # what torch.save writes
        torch.save(payload, path)
    elif fmt == "legacy":  # the pre-1.6 torch format (a sequence of pickles)
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:  # a bare pickle stream
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_payload_is_live_without_weights_only(tmp_path, fmt) -> None:
    marker = tmp_path / "ran"
    torch.load(_evil(tmp_path / "evil.pt", marker, fmt), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["zip", "legacy", "bare"])
def test_malicious_checkpoint_is_refused_and_not_executed(tmp_path, fmt) -> None:
    marker = tmp_path / "ran"
    path = _evil(tmp_path / "evil.pt", marker, fmt)
    with pytest.raises(InputError, match="could execute arbitrary code") as err:
        load_checkpoint(path)
    assert err.value.path == path and "evil.pt" in str(err.value) and err.value.hint
    assert not marker.exists()


def test_plain_cmrseg_checkpoint_still_loads(tmp_path) -> None:
    from cmrseg.config import load_config
    from cmrseg.checkpoint import save_checkpoint
    from cmrseg.models.pretrained import model_from_checkpoint
    from cmrseg.models.registry import create_model

    cfg = load_config(None, ["model.params={features: [4, 8, 16]}"])
    model = create_model(cfg.model)
    save_checkpoint(tmp_path / "ok.pt", model, cfg.model_dump(mode="json"), iteration=3)
    ck = load_checkpoint(tmp_path / "ok.pt")
    assert ck["iteration"] == 3
    restored = model_from_checkpoint(ck)
    for k, v in model.state_dict().items():
        assert torch.equal(v, restored.state_dict()[k]), k
    assert [p.name for p in tmp_path.iterdir()] == ["ok.pt"]  # no temp file left behind
