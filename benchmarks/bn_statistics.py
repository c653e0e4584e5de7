"""Diagnose a checkpoint's BatchNorm statistics: engine val Dice as saved, and after re-estimating the running
statistics from one training stream at a time.

Why: methods that forward several streams separately (synthetic pairs, then real unlabelled images, then their
augmented copies) train the BN running statistics on a mixture dominated by the last forwards. If a model's val
Dice recovers when the statistics are re-estimated from the supervised stream alone, its failure on real images
comes from that mixture rather than from its weights.

    .venv/bin/python benchmarks/bn_statistics.py runs/RUN/checkpoints/last.pt --batches 50

Prints one row per statistics source (saved, and each of the checkpoint's streams): engine val Dice per
structure and mean (ACDC val of the run's own config; preprocessed grid, no post-processing).

In training mode BN normalises with each batch's own statistics, so the running statistics never change the
weights: re-estimating them from one stream gives the model that ``method.bn_streams: [that stream]`` would have
trained, up to the average (here: plain, over ``--batches``; in training: momentum 0.1). ``--save STREAM OUT`` writes
that model as a checkpoint (its config records ``method.bn_streams``), e.g. for ``cmrseg evaluate``.
``--compare-weights OTHER.pt`` only prints the largest difference between the two checkpoints' learnt parameters
(BN buffers excluded): 0.0 for runs that differ only in ``bn_streams``.
"""

from __future__ import annotations

import argparse
import copy

import torch

from cmrseg.config.schema import Config
from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.engine.trainer import build_data, validate
from cmrseg.methods.base import batchnorm_layers, create_method
from common import STRUCTS


def max_weight_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, int]:
    """Largest |a - b| over two state dicts' learnt parameters (BN running statistics excluded), and their count."""
    keys = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in keys), len(keys)


@torch.no_grad()
def restat(model: torch.nn.Module, stream, batches: int) -> torch.nn.Module:
    """A copy of ``model`` whose BN running statistics are the plain average over ``batches`` batches of ``stream``."""
    m = copy.deepcopy(model)
    for bn in batchnorm_layers(m):
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average instead of an exponential one
    m.train()
    for _ in range(batches):
        m(next(stream)["image"])
    return m.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--batches", type=int, default=50, help="batches per re-estimate")
    ap.add_argument("--save", nargs=2, metavar=("STREAM", "OUT"), help="write the model re-estimated on STREAM")
    ap.add_argument("--compare-weights", metavar="OTHER", help="only print the largest learnt-parameter difference")
    args = ap.parse_args()
    torch.manual_seed(0)
    ckpt = load_checkpoint(args.checkpoint)
    if args.compare_weights:
        diff, n = max_weight_difference(ckpt["model_state"], load_checkpoint(args.compare_weights)["model_state"])
        print(f"largest |difference| over {n} learnt tensors (BN buffers excluded): {diff}")
        return
    cfg = Config.model_validate(ckpt["config"])
    model = model_from_checkpoint(ckpt)
    data = build_data(cfg, create_method(cfg.method))
    rows = {"saved": model} | {f"re-estimated on '{n}'": restat(model, s, args.batches)
                               for n, s in data.streams.items()}
    print(f"{args.checkpoint} (iteration {ckpt.get('iteration')}); engine val Dice, {len(data.val)} volumes")
    print(f"{'BN statistics':34s} " + " ".join(f"{k:>6s}" for k in (*STRUCTS, "mean")))
    for name, m in rows.items():
        v = validate(m, data.val, 8)
        print(f"{name:34s} " + " ".join(f"{v[f'val/dice_{k}']:6.3f}" for k in (*STRUCTS, "mean")))
    if args.save:
        stream, out = args.save
        config = {**ckpt["config"], "method": {**ckpt["config"]["method"], "bn_streams": [stream]}}
        save_checkpoint(out, rows[f"re-estimated on '{stream}'"], config, iteration=ckpt.get("iteration"),
                        bn_statistics=f"re-estimated on '{stream}', {args.batches} batches, from {args.checkpoint}")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
