"""Data-parallel training under torchrun: 2 CPU processes (gloo) train a few steps and stay in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from cmrseg.engine.checkpoint import load_checkpoint
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


def test_two_process_ddp_replicas_stay_in_sync(phantom_root: Path, tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    overrides = tiny_overrides(phantom_root, tmp_path, "ddp") + ["optim.iterations=3", "train.val_every=3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(tmp_path), *overrides], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
