"""Package a trained checkpoint as a shipped model: half-precision weights, no optimiser or RNG state, a card.

    python benchmarks/package_model.py runs/shipped_acdc_unet_robust/checkpoints/last.pt \
        --name acdc_unet_robust --card benchmarks/model_cards/acdc_unet_robust.json

Writes ``src/cmrseg/shipped/<name>.pt`` and ``<name>.json``: the card given (training data, licence, numbers
with protocol, intended use, failure modes) plus the file's SHA-256, size and source checkpoint, so the
package refuses weights that do not match.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.models.shipped import SHIPPED_DIR, sha256


def package(checkpoint: Path, name: str, card: dict, out_dir: Path = SHIPPED_DIR) -> Path:
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt).half()
    config = {k: ckpt["config"][k] for k in ("model", "data")}  # what inference needs, nothing of the run
    out = out_dir / f"{name}.pt"
    save_checkpoint(out, model, config, iteration=int(ckpt.get("iteration", 0)))
    model_from_checkpoint(load_checkpoint(out))  # loads back (fp16 -> the fp32 model)
    card = {**card, "sha256": sha256(out), "bytes": out.stat().st_size, "source_checkpoint": str(checkpoint)}
    (out_dir / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--name", default="acdc_unet_robust")
    ap.add_argument("--card", type=Path, required=True, help="JSON model card (without the checksum)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = package(args.checkpoint, args.name, json.loads(args.card.read_text(encoding="utf-8")))
    print(f"{out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
