"""Data-parallel training under torchrun: 2 CPU processes (gloo) train a few steps and stay in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from cmrseg.checkpoint import load_checkpoint
from testkit import tiny_overrides

SCRIPT = """
import sys, torch, torch.distributed as dist
import cmrseg.engine.trainer as T
from cmrseg.config import load_config
captured = {}
orig = T.wrap_model
def capture(model, ctx, device=None):
    captured["model"] = model
    return orig(model, ctx, device)
T.wrap_model = capture
run = T.train(load_config(None, sys.argv[2:]))
rank = dist.get_rank() if dist.is_initialized() else 0
torch.save({k: v.detach().clone() for k, v in captured["model"].state_dict().items()}, f"{sys.argv[1]}/rank{rank}.pt")
"""


def _torchrun(script_text: str, tmp_path: Path, overrides: list[str]) -> None:
    """Run ``script_text`` in 2 CPU processes under torchrun (gloo), with the run's overrides."""
    script = tmp_path / "ddp_script.py"
    script.write_text(script_text, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(tmp_path), *overrides], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_process_ddp_replicas_stay_in_sync(phantom_root: Path, tmp_path: Path) -> None:
    _torchrun(SCRIPT, tmp_path, tiny_overrides(phantom_root, tmp_path, "ddp") + ["optim.iterations=3",
                                                                                 "train.val_every=3"])
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    saved = load_checkpoint(tmp_path / "runs" / "ddp" / "checkpoints" / "last.pt")
    assert saved["iteration"] == 3
    for k in w0:
        assert torch.equal(w0[k], w1[k]), f"replicas diverged at {k}"  # weights and BN statistics
        assert torch.equal(w0[k], saved["model_state"][k]), k
    # rank 1 wrote nothing of its own: one run folder, one history
    hist = (tmp_path / "runs" / "ddp" / "history.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(hist) == 2


ADVERSARIAL_SCRIPT = """
import sys, torch, torch.distributed as dist
import cmrseg.engine.trainer as T
from cmrseg.config import load_config
captured = {}
orig = T.setup
def capture(*args, **kwargs):
    state = orig(*args, **kwargs)
    captured["state"] = state
    captured["init"] = {k: {n: p.detach().clone() for n, p in a.module.state_dict().items()}
                        for k, a in state.networks.items()}
    return state
T.setup = capture
T.train(load_config(None, sys.argv[2:]))
rank = dist.get_rank()
nets = {k: {n: p.detach().clone() for n, p in a.module.state_dict().items()}
        for k, a in captured["state"].networks.items()}
torch.save({"final": nets, "init": captured["init"]}, f"{sys.argv[1]}/disc{rank}.pt")
"""


def test_two_process_ddp_keeps_the_adversarial_discriminators_identical(phantom_root: Path, tmp_path: Path) -> None:
    """The engine owns the discriminator: wrapped for data-parallel training, so the ranks, which see different
    batches, still hold one discriminator (a loss-owned one would drift apart per rank)."""
    _torchrun(ADVERSARIAL_SCRIPT, tmp_path, tiny_overrides(phantom_root, tmp_path, "adv") + [
        "method.name=shape-adversarial", "optim.iterations=3", "train.val_every=3",
        "method.terms=[{loss: dice_ce, stream: labelled}, {loss: shape_adversarial, stream: labelled, weight: 0.01, "
        "params: {features: [4, 8], lr: 0.01}}]"])
    d0 = torch.load(tmp_path / "disc0.pt", weights_only=True)
    d1 = torch.load(tmp_path / "disc1.pt", weights_only=True)
    (key,) = d0["final"]
    assert key == "1:shape_adversarial.discriminator"
    for name, w in d0["final"][key].items():
        assert torch.equal(w, d1["final"][key][name]), f"discriminators diverged at {name}"
    assert any(not torch.equal(w, d0["init"][key][n]) for n, w in d0["final"][key].items())  # it did train
    saved = load_checkpoint(tmp_path / "runs" / "adv" / "checkpoints" / "last.pt")["networks"][key]
    for name, w in saved["module"].items():
        assert torch.equal(w, d0["final"][key][name]), name
