"""Benchmark (issue 3, evidence 1): unsupervised Mumford-Shah losses on synthetic nested shapes.

Question: does the plain softmax MS loss (Kim & Ye 2020) find all four regions of a piecewise-constant image,
or collapse to fewer; does the nested multi-class MS* (psi1 = LV inside psi2 = LV+Myo, psi3 = RV, with the
inclusion regulariser) recover all classes; and do the bias-field variants keep working under a
multiplicative bias field?

Protocol:

* Data: ``cmrseg.data.shapes.write_shapes_dataset`` twice (without / with bias field), ``--patients``
  patients of which ``--val`` are val; each patient = 2 independent volumes of 4 slices of 96 x 96 px
  (1.5 mm): label 3 = inner disc inside label 2 (disc or square), label 1 = a separate shape, intensities
  random per slice from disjoint ranges (BG < 2 < 1 < 3), Gaussian noise; the bias set multiplies by a
  smooth field spanning ~0.6x-1.65x.
* Training: the one engine (``cmrseg.engine.train``), method ``ms-unsupervised`` (stream ``images``: labels
  are never loaded), U-Net features [8, 16, 32, 64], whole 96 px slices, batch 8, AdamW (``--lr``, default
  1e-2), poly schedule, no augmentation, ``--iterations`` iterations, one seed. Four models per dataset:
  plain MS (4-class softmax, ``mumford_shah``), plain MS + bias head, nested MS* (``ms_nested``,
  ``model.params.output=nested``), nested MS* + bias head. TV weight 0.1, bias TV weight 1, inclusion 1.
  The bias head predicts its field on a ``--bias-grid`` x ``--bias-grid`` grid (default 4, i.e. one value
  per 24 px cell) upsampled bilinearly (``model.params.bias_grid``): a full-resolution field (``0``) absorbs
  the structures into ``b`` (a TV penalty cannot stop that: it charges the amount of variation, not its
  sharpness). Options (off by default): ``--psi-init`` (nested head bias), ``--class-floor-weight`` (the
  ``class_floor`` prior against empty classes, as a second term on the same stream), ``--level-init N``
  (warm start towards each slice's multi-Otsu levels for N iterations; ``--level-median 3`` denoises first)
  and ``--ms-start N`` (the MS term switches on at N: with ``--level-init N`` the warm start runs alone,
  which the nested model needs -- with both terms on together it never fits the warm-start targets).
  These settings were chosen on separately seeded synthetic data (``make_shapes_volume`` with other seeds),
  never on this benchmark's val labels.
* Evaluation on the val volumes with the *last* checkpoint (no model selection on labels). 3D Dice per
  volume, mean over volumes:
  (i) raw: the model's own class numbering (the nested model defines psi1 -> LV (3), psi2 minus psi1 -> Myo
  (2), psi3 -> RV (1); a softmax model's numbering is arbitrary, so its raw Dice is chance-level by design);
  (ii) matched: after the best one-to-one assignment of the 4 predicted clusters to the 4 GT classes
  (Hungarian on the Dice matrix pooled over the val set, ``cmrseg.baselines.match_clusters``).
  Clusters = predicted classes holding >= 0.1 % of the val pixels. Also printed: each model's own loss on
  the val slices, and the plain MS loss of hard partitions (GT, 3 clusters, binary split) for comparison.
* Chan-Vese (4-phase, ``cmrseg.baselines.chan_vese_multiphase``) on the same val slices as a classical
  reference, matched the same way.

    python benchmarks/ms_synthetic.py --iterations 500 --threads 2 --out benchmarks/out  # --bias-grid 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from cmrseg.baselines import chan_vese_multiphase, match_clusters
from cmrseg.config import Config, load_config
from cmrseg.data.cache import PreprocessedCache
from cmrseg.data.shapes import write_shapes_dataset
from cmrseg.engine import train
from cmrseg.checkpoint import load_checkpoint
from cmrseg.models.pretrained import model_from_checkpoint
from cmrseg.inference.forward import predict_probabilities
from cmrseg.io import load_dataset
from cmrseg.labels import STRUCTURES
from cmrseg.losses.mumford_shah import ms_piecewise_constant
from cmrseg.losses.registry import create_loss

#: name -> (model params, loss term) of the four unsupervised models.
VARIANTS: dict[str, tuple[dict, dict]] = {
    "plain MS": ({}, {"loss": "mumford_shah", "params": {"tv_weight": 0.1}}),
    "plain MS+bias": ({"bias_head": True},
                      {"loss": "mumford_shah", "params": {"tv_weight": 0.1, "use_bias": True, "bias_tv_weight": 1.0}}),
    "nested MS*": ({"output": "nested"},
                   {"loss": "ms_nested", "params": {"tv_weight": 0.1, "inclusion_weight": 1.0, "use_bias": False}}),
    "nested MS*+bias": ({"output": "nested", "bias_head": True},
                        {"loss": "ms_nested", "params": {"tv_weight": 0.1, "inclusion_weight": 1.0, "use_bias": True,
                                                         "bias_tv_weight": 1.0}}),
}
# the bias variants again with a full-resolution field (bias_grid 0), to show what the low-resolution field buys
VARIANTS["plain MS+bias full"] = ({"bias_head": True, "bias_grid": 0}, VARIANTS["plain MS+bias"][1])
VARIANTS["nested MS*+bias full"] = ({"output": "nested", "bias_head": True, "bias_grid": 0},
                                    VARIANTS["nested MS*+bias"][1])
# nested MS* with the enclosure prior (LV surrounded by >= 2 px of LV+Myo; weight 1 like inclusion, not tuned)
ENCLOSURE = {"enclosure_weight": 1.0, "enclosure_px": 2}
for _base in ("nested MS*", "nested MS*+bias"):
    _model, _term = VARIANTS[_base]
    VARIANTS[_base + "+encl"] = (_model, {**_term, "params": {**_term["params"], **ENCLOSURE}})
CV = "Chan-Vese 4-phase"
MIN_CLUSTER_FRACTION = 1e-3
CODES = (3, 2, 1)  # LV, Myo, RV


def overrides(args: argparse.Namespace, root: Path, name: str, variant: str) -> list[str]:
    model_params, term = VARIANTS[variant]
    params = {"features": [8, 16, 32, 64], "num_classes": 4, "dropout": 0.0, **model_params}
    grid = params.pop("bias_grid", args.bias_grid)  # a variant's own grid wins; 0 = full resolution
    if params.get("bias_head") and grid:
        params["bias_grid"] = grid
    if params.get("output") == "nested" and args.psi_init is not None:
        params["psi_init"] = args.psi_init[0] if len(args.psi_init) == 1 else args.psi_init
    terms = [{**term, "params": {**term["params"], "tv_weight": args.tv_weight}, "stream": "images", "weight": 1.0,
              "start": args.ms_start}]
    if args.class_floor_weight > 0:
        terms.append({"loss": "class_floor", "params": {"floor": args.class_floor}, "stream": "images",
                      "weight": args.class_floor_weight})
    if args.level_init > 0:  # warm start towards each image's multi-Otsu levels, off from iteration level_init
        terms.append({"loss": "level_init", "params": {"order": args.level_order, "median": args.level_median},
                      "stream": "images", "weight": 1.0, "stop": args.level_init})
    out = Path(args.out)
    return [f"data.root={root}", f"data.cache_dir={out / 'cache' / root.name}", f"train.out_dir={out / 'runs'}",
            f"train.name={name}", "data.preprocess.fov_px=96", "data.preprocess.target_spacing=1.5",
            "data.patch=null", "augment.enabled=false", f"model.params={json.dumps(params)}",
            "method.name=ms-unsupervised", f"method.terms={json.dumps(terms)}", f"optim.batch_size={args.batch}",
            f"optim.iterations={args.iterations}", f"optim.lr={args.lr}", f"optim.warmup={min(20, args.iterations)}",
            f"train.val_every={args.iterations}", "train.progress=false", f"train.threads={args.threads}",
            f"train.seed={args.seed}"]


def val_volumes(root: Path, cache_dir: Path, cfg: Config) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(case id, preprocessed image, label)`` of every val volume (the grid the network sees)."""
    cache = PreprocessedCache(cache_dir, cfg.data.preprocess)
    out = []
    for ref in load_dataset(root):
        if ref.split == "val":
            pre = cache.get(ref)
            out.append((ref.case_id, pre.image, pre.label))
    return out


@torch.inference_mode()
def own_loss(model: torch.nn.Module, cfg: Config, vols: list[tuple[str, np.ndarray, np.ndarray]]) -> float:
    """The model's training loss term evaluated on all val slices at once (eval mode)."""
    term = cfg.method.terms[0]
    x = torch.from_numpy(np.concatenate([img for _, img, _ in vols]))[:, None]
    return float(create_loss(term.loss, term.params)(model.eval()(x), {"image": x}))


def reference_losses(vols: list[tuple[str, np.ndarray, np.ndarray]], tv_weight: float) -> dict[str, float]:
    """Plain MS loss (= nested MS* loss without bias) of hard partitions of the val slices: the GT, a 3-cluster
    and the binary BG | all-shapes split. What a model's loss would be at those solutions."""
    x = torch.from_numpy(np.concatenate([img for _, img, _ in vols]))[:, None]
    gt = torch.from_numpy(np.concatenate([g for _, _, g in vols])).long()
    merges = {"GT 4 classes": [0, 1, 2, 3], "3 clusters (1+2 merged)": [0, 1, 1, 3],
              "binary (BG | shapes)": [0, 1, 1, 1]}
    out = {}
    for name, merge in merges.items():
        onehot = torch.nn.functional.one_hot(torch.tensor(merge)[gt], 4).permute(0, 3, 1, 2).float()
        out[name] = float(ms_piecewise_constant(x, onehot, tv_weight))
    return out


def dice_3d(pred: np.ndarray, gt: np.ndarray, code: int) -> float:
    p, g = pred == code, gt == code
    denom = p.sum() + g.sum()
    return 1.0 if denom == 0 else float(2 * (p & g).sum() / denom)


def score(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, object]:
    """Raw and Hungarian-matched Dice per structure (mean over volumes) and the number of clusters."""
    mapping, _ = match_clusters(preds, gts, 4, 4)
    raw = {STRUCTURES[c]: float(np.mean([dice_3d(p, g, c) for p, g in zip(preds, gts)])) for c in CODES}
    matched = {STRUCTURES[c]: float(np.mean([dice_3d(mapping[p], g, c) for p, g in zip(preds, gts)])) for c in CODES}
    counts = np.bincount(np.concatenate([p.ravel() for p in preds]).astype(np.int64), minlength=4)
    n_clusters = int((counts >= MIN_CLUSTER_FRACTION * counts.sum()).sum())
    return {"raw": raw, "matched": matched, "clusters": n_clusters, "mapping": mapping.tolist()}


def print_table(title: str, rows: dict[str, dict]) -> None:
    print(f"\n{title}")
    head = f"{'model':<22}{'clusters':>9} |" + "".join(f"{k:>7}" for k in ("LV", "Myo", "RV", "mean")) + " |" + \
        "".join(f"{k:>7}" for k in ("LV", "Myo", "RV", "mean")) + f"{'min':>7}{'loss':>8}"
    print(f"{'':<32}| raw Dice (own numbering)   | matched Dice (Hungarian)")
    print(head)
    for name, r in rows.items():
        raw, mat = r["raw"], r["matched"]
        line = f"{name:<22}{r['clusters']:>9} |" + "".join(f"{raw[k]:>7.3f}" for k in ("LV", "Myo", "RV"))
        line += f"{np.mean(list(raw.values())):>7.3f} |" + "".join(f"{mat[k]:>7.3f}" for k in ("LV", "Myo", "RV"))
        line += f"{np.mean(list(mat.values())):>7.3f}{r.get('minutes', float('nan')):>7.1f}"
        line += f"{r['val_loss']:>8.4f}" if "val_loss" in r else f"{'-':>8}"
        print(line)


def save_figure(path: Path, panels: dict[str, dict[str, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["black", "tab:blue", "tab:green", "tab:red"])
    cols = ["image", "GT", *VARIANTS, CV]
    fig, axes = plt.subplots(len(panels), len(cols), figsize=(2.2 * len(cols), 2.4 * len(panels)), squeeze=False)
    for i, (dataset, p) in enumerate(panels.items()):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            if col == "image":
                ax.imshow(p[col], cmap="gray")
            else:
                ax.imshow(p[col], cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=9)
        axes[i, 0].set_ylabel(dataset, fontsize=9)
    fig.suptitle("unsupervised MS on shapes (val slice; predictions coloured by their Hungarian-matched class: "
                 "red 3 inner, green 2 around, blue 1 apart)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--out", default="benchmarks/out", help="output folder (data, runs, cache, figure)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--patients", type=int, default=16)
    ap.add_argument("--val", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate (at the engine's default 2e-3, "
                    "600 iterations leave the MS losses above that of the binary split: under-trained)")
    ap.add_argument("--tv-weight", type=float, default=0.1, help="length (TV) weight of every MS term")
    ap.add_argument("--bias-grid", type=int, default=4, help="bias variants: predict the bias field on a G x G grid "
                    "and upsample it bilinearly (0 = full resolution, which absorbs the structures into b)")
    ap.add_argument("--psi-init", type=float, nargs="+", default=None,
                    help="nested variants: initial psi (one value, or LV, LV+Myo, RV); default PyTorch init")
    ap.add_argument("--class-floor-weight", type=float, default=0.0,
                    help="weight of the optional class_floor prior against empty classes (0 = off)")
    ap.add_argument("--class-floor", type=float, default=0.01, help="class fraction where that prior starts")
    ap.add_argument("--level-init", type=int, default=0, help="warm start: cross-entropy towards each image's "
                    "multi-Otsu levels (loss level_init) for the first N iterations, then MS alone (0 = off)")
    ap.add_argument("--level-order", type=int, nargs=4, default=[0, 2, 1, 3], help="class code of each Otsu level, "
                    "darkest first (the shapes data: BG < 2 < 1 < 3 by construction)")
    ap.add_argument("--level-median", type=int, default=0, help="median filter side (px) applied before the "
                    "multi-Otsu of the warm start (0 = none; 3 removes the background-noise level, see level_init)")
    ap.add_argument("--ms-start", type=int, default=0, help="iteration at which the MS term switches on (e.g. = "
                    "--level-init: the warm start alone first, then MS alone)")
    ap.add_argument("--tag", default="", help="suffix of the figure / JSON names (ms_synthetic<tag>.png)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--datasets", nargs="*", default=["no bias", "bias"], choices=["no bias", "bias"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    t_start = time.time()
    warm = (f"for {args.level_init} iterations, order {args.level_order}, median {args.level_median}"
            if args.level_init else "off")
    print(f"protocol: shapes datasets ({args.patients} patients = {2 * args.patients} volumes x 4 slices 96x96, "
          f"{args.val} val patients = {2 * args.val} val volumes), seed {args.seed}; U-Net [8,16,32,64], "
          f"batch {args.batch}, {args.iterations} iterations, AdamW lr {args.lr} poly, TV weight {args.tv_weight}, "
          f"no augmentation, last checkpoint; bias field grid {args.bias_grid or 'full resolution'}; "
          f"psi init {args.psi_init or 'default'}; class-floor prior weight {args.class_floor_weight}"
          f"{f' (floor {args.class_floor})' if args.class_floor_weight > 0 else ''}; "
          f"multi-Otsu warm start {warm}; "
          f"MS term from iteration {args.ms_start}; "
          f"torch threads {args.threads}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    panels: dict[str, dict[str, np.ndarray]] = {}
    results: dict[str, dict] = {}
    for dataset in args.datasets:
        tag = dataset.replace(" ", "")
        root = out / "data" / f"shapes_{tag}"
        for old in (root, out / "cache" / root.name):  # fresh data, and no stale preprocessed copies of it
            if old.exists():
                shutil.rmtree(old)
        write_shapes_dataset(root, args.patients, args.val, seed=args.seed, bias=dataset == "bias")
        rows: dict[str, dict] = {}
        cfg0 = load_config(None, overrides(args, root, "val", args.variants[0] if args.variants else "plain MS"))
        vols = val_volumes(root, Path(cfg0.data.cache_dir), cfg0)
        for variant in args.variants:
            name = f"ms_synthetic_{tag}_{variant.replace(' ', '_').replace('*', 'star').replace('+', '_')}"
            if (out / "runs" / name).exists():
                shutil.rmtree(out / "runs" / name)
            cfg = load_config(None, overrides(args, root, name, variant))
            t0 = time.time()
            try:
                run = train(cfg)
            except RuntimeError as exc:  # the engine stops on a non-finite loss: report it, go on
                print(f"{variant}: training failed ({exc})")
                continue
            minutes = (time.time() - t0) / 60
            model = model_from_checkpoint(load_checkpoint(run / "checkpoints" / "last.pt"))
            torch.set_num_threads(args.threads)
            preds = [predict_probabilities(model, img, 32).argmax(1).numpy() for _, img, _ in vols]
            rows[variant] = {**score(preds, [g for _, _, g in vols]), "minutes": minutes,
                             "val_loss": own_loss(model, cfg, vols)}
            rows[variant]["_preds"] = preds
        # classical reference on the same (preprocessed) val slices
        t0 = time.time()
        cv = [np.stack([chan_vese_multiphase(s, 4) for s in img]) for _, img, _ in vols]
        rows[CV] = {**score(cv, [g for _, _, g in vols]), "minutes": (time.time() - t0) / 60, "_preds": cv}
        # figure: the val slice with the largest RV of the first val volume
        _, img, gt = vols[0]
        z = int(np.argmax((gt == 1).sum((1, 2))))
        panel = {"image": img[z], "GT": gt[z]}
        for variant in [v for v in [*args.variants, CV] if v in rows]:
            mapping = np.array(rows[variant]["mapping"])
            panel[variant] = mapping[rows[variant]["_preds"][0][z]]
        for variant in [*VARIANTS, CV]:
            panel.setdefault(variant, np.zeros_like(gt[z]))
        panels[dataset] = panel
        for r in rows.values():
            r.pop("_preds")
        refs = reference_losses(vols, args.tv_weight)
        results[dataset] = {"models": rows, "reference_losses": refs}
        print_table(f"dataset: shapes, {dataset} field ({2 * args.val} val volumes; min = minutes to train / to "
                    f"run; loss = the model's own loss on the val slices)", rows)
        print("reference: plain MS loss (= nested MS* without bias) of hard partitions of these val slices: "
              + ", ".join(f"{k} {v:.4f}" for k, v in refs.items()))
    fig = out / f"ms_synthetic{args.tag}.png"
    save_figure(fig, panels)
    (out / f"ms_synthetic{args.tag}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\nclusters = predicted classes with >= {MIN_CLUSTER_FRACTION:.1%} of val pixels. raw Dice = the model's "
          "own numbering (meaningful for nested MS*; arbitrary for softmax MS and Chan-Vese, whose phases are "
          "numbered by intensity). matched Dice = after the Hungarian cluster->class assignment on the val set.")
    print(f"figure: {fig}; numbers: {out / f'ms_synthetic{args.tag}.json'}; total {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
