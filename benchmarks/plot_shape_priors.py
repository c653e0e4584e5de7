"""Figure of the shape-prior ablation (issue 5): mean Dice, mean HD95 and zero-shot LGE Dice per method and budget.

Reads the evaluations that ``benchmarks/shape_priors.py`` left in its sweep folder,
``<runs>/shape_<method>_i<iters>_l<N>_s<seed>`` (``eval/summary.json`` on ACDC val, ``lge/eval/summary.json`` on
MS-CMRSeg LGE val), and those of its earlier layout, ``<runs>/shape_<method>_l<N>_i<iters>[_seedK]`` with
``lge_val/eval``; trains nothing. Each seed is a dot, the bar is the mean over the seeds found, so the seed-to-seed
spread sits next to every method effect.

    python benchmarks/plot_shape_priors.py [--runs runs/sweep/shape_priors] [--labelled 3 7 70] [--iterations 2000] \
        [--out benchmarks/out/shape_priors/ablation.png]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from shape_priors import ABLATION  # noqa: E402

PANELS = (  # (title, summary files inside the run: sweep layout, then the earlier one; metric key)
    ("ACDC val mean Dice", ("eval/summary.json",), "dice_mean"),
    ("ACDC val mean HD95 (mm)", ("eval/summary.json",), "hd95_mm_mean"),
    ("LGE val mean Dice (zero-shot)", ("lge/eval/summary.json", "lge_val/eval/summary.json"), "dice_mean"),
)


def collect(runs: Path, labelled: int, iterations: int, method: str, rels: tuple[str, ...], key: str) -> list[float]:
    """The metric of every seed of one method at one label budget (empty when no run has been evaluated)."""
    pattern = re.compile(rf"shape_{method}_i{iterations}_l{labelled}_s\d+|shape_{method}_l{labelled}_i{iterations}"
                         r"(_seed\d+)?")
    values = []
    for run in sorted(runs.glob(f"shape_{method}_*")):
        summary = next((run / rel for rel in rels if (run / rel).exists()), None)
        if pattern.fullmatch(run.name) and summary is not None:
            values.append(json.loads(summary.read_text(encoding="utf-8"))["structures"]["mean"][key])
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs/sweep/shape_priors"))
    ap.add_argument("--labelled", type=int, nargs="+", default=[3, 7, 70])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--methods", nargs="+", default=["unet", "scn", "srnn", "srscn", "acnn", "adversarial"],
                    choices=list(ABLATION))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/shape_priors/ablation.png"))
    args = ap.parse_args()

    fig, axes = plt.subplots(len(PANELS), 1, figsize=(2.2 + 1.6 * len(args.labelled) * len(args.methods) / 3, 9),
                             sharex=True)
    width = 0.8 / len(args.methods)
    colours = plt.get_cmap("tab10")
    for ax, (title, rels, key) in zip(axes, PANELS):
        drawn: list[float] = []
        for m, method in enumerate(args.methods):
            for b, labelled in enumerate(args.labelled):
                values = collect(args.runs, labelled, args.iterations, method, rels, key)
                if not values:
                    continue
                x = b + (m - (len(args.methods) - 1) / 2) * width
                ax.bar(x, sum(values) / len(values), width * 0.9, color=colours(m), alpha=0.45,
                       label=ABLATION[method][0])
                ax.scatter([x] * len(values), values, color=colours(m), s=14, zorder=3)
                drawn += values
        if drawn and key == "dice_mean":  # Dice differences of 0.01-0.03 must stay visible: no zero baseline
            ax.set_ylim(max(0.0, min(drawn) - 0.1), min(1.0, max(drawn) + 0.05))
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))  # one legend entry per method, whichever budget drew it
    axes[0].legend(seen.values(), seen.keys(), fontsize=8, ncol=3, loc="upper left")
    axes[-1].set_xticks(range(len(args.labelled)), [f"{n} labelled" for n in args.labelled])
    fig.suptitle(f"Shape priors, {args.iterations} iterations each (dots: seeds, bars: mean)", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
