"""Record the training loss of a config's first iterations, to show a refactor of the engine changes nothing.

Patches ``torch.Tensor.backward`` to record the value of every backward call (the engine calls it once per
iteration on the total loss; a loss that steps its own discriminator adds its own calls), runs the config for
``--iterations`` iterations through the public ``cmrseg.engine.train``, and writes the values to JSON. Run it at
two revisions (``PYTHONPATH=<checkout>/src``) and compare with ``--compare``::

    PYTHONPATH=/path/to/old/src python benchmarks/loss_trace.py configs/acdc/supervised_7.yaml --out before.json
    python benchmarks/loss_trace.py configs/acdc/supervised_7.yaml --out after.json --compare before.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


def trace(config: str, iterations: int, overrides: list[str]) -> list[float]:
    from cmrseg.config import load_config
    from cmrseg.engine import train

    values: list[float] = []
    original = torch.Tensor.backward

    def recording(self: torch.Tensor, *args, **kwargs):  # type: ignore[no-untyped-def]
        values.append(float(self.detach()))
        return original(self, *args, **kwargs)

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(config, [*overrides, f"optim.iterations={iterations}", f"train.val_every={iterations}",
                                   f"train.out_dir={out}", "train.name=trace", "train.progress=false",
                                   "train.threads=1", "optim.budget_minutes=null", "train.max_minutes=null"])
        torch.Tensor.backward = recording  # type: ignore[method-assign]
        try:
            train(cfg)
        finally:
            torch.Tensor.backward = original  # type: ignore[method-assign]
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare", help="a trace of another revision: print whether they are bit-identical")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides")
    args = ap.parse_args()
    values = trace(args.config, args.iterations, args.set)
    Path(args.out).write_text(json.dumps({"config": args.config, "values": values}), encoding="utf-8")
    print(f"{args.config}: {len(values)} backward calls, first {values[:3]}, last {values[-1]}")
    if args.compare:
        other = json.loads(Path(args.compare).read_text(encoding="utf-8"))["values"]
        same = other == values
        diff = next((i for i, (a, b) in enumerate(zip(other, values)) if a != b), None)
        print(f"bit-identical: {same} ({len(other)} vs {len(values)} values"
              + ("" if diff is None else f"; first difference at call {diff}: {other[diff]!r} vs {values[diff]!r}") + ")")
        sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
