"""The one training loop every method runs in; :func:`train` trains exactly one run.

Per iteration: draw one batch per stream the method declares -> augment -> the step's loss
(:func:`cmrseg.engine.step.training_loss`: the method's forward, its auxiliary networks' updates, the term loop)
-> AdamW step -> EMA update -> LR schedule. Every ``val_every`` iterations: 3D Dice on the model-selection volumes
(the selection set when ``data.selection`` is set, else val), ``best.pt`` when the mean improves, ``last.pt``
always (for resume). The engine owns every network of the run: the model, its EMA teacher (``optim.ema``) and the
auxiliary networks the terms declare (moved to the device, wrapped for data-parallel training, checkpointed and
restored with their optimisers).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from tqdm.auto import tqdm

from cmrseg.config.load import dump_config
from cmrseg.config.schema import Config
from cmrseg.data.cache import PreprocessedCache
from cmrseg.data.extra_images import extra_image_refs
from cmrseg.data.extra_labels import attach_labels
from cmrseg.data.preprocess import Preprocessed
from cmrseg.data.splits import Split, split_from_config
from cmrseg.data.streams import PatchStream, SliceBank
from cmrseg.device import batch_to, resolve_device
from cmrseg.checkpoint import load_checkpoint, save_checkpoint
from cmrseg.models.auxiliary import AuxiliaryNetwork
from cmrseg.engine.distributed import agree, init_distributed, sync_buffers, wrap_model
from cmrseg.engine.ema import ema_state, load_ema, make_ema
from cmrseg.engine.logging import MetricLogger
from cmrseg.engine.precision import with_precision
from cmrseg.errors import ConfigError
from cmrseg.inference.forward import predict_probabilities
from cmrseg.engine.step import training_loss
from cmrseg.labels import STRUCTURES
from cmrseg.methods.base import Method, StepContext, StreamContext, create_method
from cmrseg.metrics.overlap import dice_per_structure
from cmrseg.models.registry import create_model
from cmrseg.transforms.intensity import intensity_augment
from cmrseg.transforms.spatial import affine_warp, sample_affine, sample_elastic

console = Console(stderr=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainingData:
    split: Split
    streams: dict[str, PatchStream]
    val: list[tuple[str, Preprocessed]]


def build_data(cfg: Config, method: Method, rank: int = 0) -> TrainingData:
    """List the dataset, split it by label budget, preprocess (cached) and build the streams."""
    from cmrseg.io import load_dataset

    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    split = split_from_config(refs, cfg.data, cfg.train.seed)
    console.print(f"[bold]data[/] {cfg.data.root}: {split.describe()}")
    cache = PreprocessedCache(cfg.data.cache_dir, cfg.data.preprocess)
    pools = {"labelled": (split.labelled, True), "unlabelled": (split.unlabelled, False),
             "images": (split.labelled + split.unlabelled, False)}
    train_refs = {"labelled": split.labelled, "unlabelled": split.unlabelled, "train": split.labelled + split.unlabelled}
    for name, extra in cfg.data.extra_labels.items():  # pseudo-labels, propagated labels, ...
        if extra.pool not in train_refs:
            raise ConfigError(f"data.extra_labels.{name}.pool must be one of {sorted(train_refs)}, not {extra.pool!r}")
        pools[name] = (attach_labels(train_refs[extra.pool], extra.labels_dir), True)
    for name, images in cfg.data.extra_images.items():  # unlabelled images of another folder (scanner, sequence)
        if name in pools:
            raise ConfigError(f"data.extra_images.{name}: the stream name '{name}' is taken; choose another")
        pools[name] = (extra_image_refs(name, images, cfg.data.root), False)
    streams: dict[str, PatchStream] = {}
    for i, name in enumerate(sorted(method.streams)):
        seed = cfg.train.seed + 1000 * (i + 1) + 7919 * rank  # per stream and per data-parallel rank
        custom = method.build_stream(name, StreamContext(split, cache, cfg, seed, rank))
        if custom is None and name in cfg.data.synthetic:  # (translated label map, label) pairs
            from cmrseg.data.synthetic_pairs import build_synthetic_stream

            custom = build_synthetic_stream(name, cfg, train_refs, cache, seed=seed)
        if custom is not None:
            streams[name] = custom
            continue
        if name not in pools:
            raise ConfigError(f"method '{method.name}' needs stream '{name}'; available: {sorted(pools)} (add "
                              "labelled folders under data.extra_labels, other image folders under data.extra_images)")
        refs_s, with_label = pools[name]
        if not refs_s:
            raise ConfigError(f"stream '{name}' is empty for this split ({split.describe()})")
        vols = [cache.get(r, with_label=with_label) for r in tqdm(refs_s, desc=f"preprocess {name}", leave=False,
                                                                   disable=not cfg.train.progress)]
        bank = SliceBank(vols, [r.case_id for r in refs_s])
        batch = cfg.data.stream_batch.get(name, cfg.optim.batch_size)
        streams[name] = PatchStream(bank, batch, cfg.data.patch, cfg.data.foreground_p,
                                    with_labels=with_label, seed=seed)
    val = [(r.case_id, cache.get(r)) for r in split.model_selection]  # chooses best.pt
    return TrainingData(split, streams, val)


def progress(iteration: int, elapsed_min: float, cfg: Config) -> float:
    """Fraction of training done: by iterations, or by elapsed time when ``optim.budget_minutes`` is set."""
    t = (iteration - cfg.optim.warmup) / max(1, cfg.optim.iterations - cfg.optim.warmup)
    if cfg.optim.budget_minutes:
        t = max(t, elapsed_min / cfg.optim.budget_minutes)
    return max(0.0, t)


def lr_factor(iteration: int, cfg: Config, elapsed_min: float = 0.0) -> float:
    o = cfg.optim
    if iteration < o.warmup:
        return (iteration + 1) / o.warmup
    t = progress(iteration, elapsed_min, cfg)
    if o.schedule == "poly":
        return (1 - min(t, 1.0)) ** 0.9
    if o.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return 1.0


def validate(model: torch.nn.Module, val: list[tuple[str, Preprocessed]], batch: int) -> dict[str, float]:
    """Mean 3D Dice per structure over the validation volumes (preprocessed grid; for model selection)."""
    model.eval()
    scores: dict[str, list[float]] = {name: [] for name in STRUCTURES.values()}
    for _, vol in val:
        pred = predict_probabilities(model, vol.image, batch).argmax(1).numpy()
        for name, d in dice_per_structure(pred, vol.label).items():
            scores[name].append(d)
    model.train()
    out = {f"val/dice_{k}": float(np.mean(v)) for k, v in scores.items()}
    out["val/dice_mean"] = float(np.mean([out[f"val/dice_{k}"] for k in STRUCTURES.values()]))
    return out


def augment_batch(batch: dict[str, torch.Tensor], cfg: Config, gen: torch.Generator) -> dict[str, torch.Tensor]:
    if not cfg.augment.enabled:
        return batch
    out = dict(batch)
    theta = sample_affine(batch["image"].shape[0], cfg.augment.spatial, gen)
    disp = sample_elastic(batch["image"].shape[0], batch["image"].shape[-2:], cfg.augment.spatial, gen)  # None: off
    out["image"] = intensity_augment(affine_warp(batch["image"], theta, displacement=disp), cfg.augment.intensity, gen)
    if "label" in batch:
        out["label"] = affine_warp(batch["label"][:, None].float(), theta, "nearest", disp)[:, 0].long()
    if "valid" in batch:  # pixels warped in from outside the image are invalid too
        out["valid"] = affine_warp(batch["valid"], theta, "nearest", disp)
    return out


@dataclass
class RunState:
    """Everything a run trains and checkpoints: the model, its optimiser, the EMA teacher, the auxiliary networks
    of the terms, the augmentation generator, the data streams, and the progress counters."""

    cfg: Config
    method: Method
    data: TrainingData
    model: torch.nn.Module  # unwrapped; validated and saved (through ``evaluated``)
    net: torch.nn.Module  # what the step runs: data-parallel and precision wrappers around ``model``
    opt: torch.optim.Optimizer
    ema: Any
    teacher: torch.nn.Module | None  # the EMA model as the step runs it (precision-wrapped), for pseudo-labels
    networks: dict[str, AuxiliaryNetwork]
    gen: torch.Generator
    start: int = 0
    best: float = -1.0
    prior_min: float = 0.0

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights validated, selected and saved for inference: the EMA teacher when there is one (and
        ``optim.ema_evaluate``), else the model."""
        return self.model if self.ema is None or not self.cfg.optim.ema_evaluate else self.ema.module

    def save(self, path: Path, iteration: int, elapsed_min: float) -> None:
        extra = {} if self.ema is None else {"train_model_state": self.model.state_dict(),
                                             "ema_model_state": self.ema.module.state_dict(), **ema_state(self.ema)}
        save_checkpoint(path, self.evaluated, self.cfg.model_dump(mode="json"), iteration=iteration,
                        best_metric=self.best, **extra, optimizer_state=self.opt.state_dict(),
                        elapsed_minutes=elapsed_min, networks={k: n.state() for k, n in self.networks.items()},
                        generator_state=self.gen.get_state(), torch_rng_state=torch.get_rng_state(),
                        stream_states={k: s.rng.bit_generator.state for k, s in self.data.streams.items()})


def _init_weights(model: torch.nn.Module, cfg: Config) -> None:
    missing, unexpected = model.load_state_dict(load_checkpoint(cfg.train.init_from)["model_state"], strict=False)
    if missing or unexpected:
        raise ConfigError(f"train.init_from {cfg.train.init_from} does not fit model {cfg.model.name} "
                          f"{cfg.model.params}: missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}; "
                          "use the model section of the checkpoint's run config")
    console.print(f"[bold]init[/] weights from {cfg.train.init_from}")


def setup(cfg: Config, method: Method, ctx: Any, device: torch.device, last: Path, resume: bool) -> RunState:
    """Build the data, the model (optionally initialised from another run), its optimiser and EMA, and the
    auxiliary networks (on the device, data-parallel wrapped when they train)."""
    data = build_data(cfg, method, ctx.rank)
    model = create_model(cfg.model)
    if cfg.train.init_from and not (resume and last.exists()):
        _init_weights(model, cfg)
    model = model.to(device)
    networks = method.networks()
    for aux in networks.values():
        aux.to(device)
        if not aux.frozen:
            aux.trainable = wrap_model(aux.module, ctx, device)  # every rank keeps the same discriminator
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                            weight_decay=cfg.optim.weight_decay)
    gen = torch.Generator().manual_seed(cfg.train.seed + 7919 * ctx.rank)
    ema = make_ema(model, cfg.optim.ema)
    net = with_precision(wrap_model(model, ctx, device), cfg.train.precision, device)
    teacher = None if ema is None else with_precision(ema.module, cfg.train.precision, device)
    return RunState(cfg, method, data, model, net, opt, ema, teacher, networks, gen)


def restore(state: RunState, last: Path, run_dir: Path, distributed: bool) -> None:
    """Continue a run from its ``last.pt``: weights, EMA, optimiser, auxiliary networks, RNG and stream states."""
    ck = load_checkpoint(last)
    state.model.load_state_dict(ck.get("train_model_state", ck["model_state"]))
    if state.ema is not None:
        if "train_model_state" not in ck:
            raise ConfigError(f"{last} was trained without optim.ema; resume it without EMA or start a new run")
        load_ema(state.ema, ck.get("ema_model_state", ck["model_state"]), ck)
    state.opt.load_state_dict(ck["optimizer_state"])
    state.gen.set_state(ck["generator_state"])
    if "torch_rng_state" in ck:
        torch.set_rng_state(ck["torch_rng_state"])
    if not distributed:  # distributed resume re-seeds the ranks' streams instead (not bit-exact)
        for name, s in ck["stream_states"].items():
            state.data.streams[name].rng.bit_generator.state = s
    saved = ck.get("networks", {})
    fresh = [k for k, n in state.networks.items() if not n.frozen and k not in saved]
    for k, n in state.networks.items():
        if k in saved and not n.frozen:
            n.load_state(saved[k])
    if fresh:
        console.print(f"[yellow]warning[/] {last} holds no state for {fresh} (an older checkpoint): these "
                      "networks restart from their initial weights")
    state.start, state.best = int(ck["iteration"]), float(ck["best_metric"])
    state.prior_min = float(ck.get("elapsed_minutes", 0.0))
    if "elapsed_minutes" not in ck and (run_dir / "history.csv").exists():  # checkpoints of early versions
        import pandas as pd

        state.prior_min = float(pd.read_csv(run_dir / "history.csv")["minutes"].iloc[-1])
    console.print(f"[bold]resume[/] from iteration {state.start} (best val Dice {state.best:.4f})")


def step(state: RunState, iteration: int, device: torch.device, elapsed_min: float) -> dict[str, float]:
    """One optimisation step: LR, batches (augmented on the CPU), the step's loss, AdamW, EMA."""
    cfg, opt = state.cfg, state.opt
    for group in opt.param_groups:
        group["lr"] = cfg.optim.lr * lr_factor(iteration, cfg, elapsed_min)
    # streams with ``augment = False`` (e.g. paired registration slices) augment their own batches
    # (on the CPU, with the CPU generator: the same batches on every device), then to the device
    batches = {k: batch_to(augment_batch(next(s), cfg, state.gen) if getattr(s, "augment", True) else next(s), device)
               for k, s in state.data.streams.items()}
    ctx = StepContext(state.net, iteration, state.method.bn_streams, state.teacher, state.gen)
    loss, logs = training_loss(state.method, batches, ctx)
    if not torch.isfinite(loss):
        raise RuntimeError(f"loss became {float(loss)} at iteration {iteration}; lower optim.lr or check the data")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if state.ema is not None:
        state.ema.update_parameters(state.model)
    return logs


def evaluate(state: RunState) -> dict[str, float]:
    """The method's selection metrics on the model-selection volumes (3D Dice by default)."""
    val, batch = state.data.val, state.cfg.train.val_batch
    return state.method.validate(state.evaluated, val, batch) or validate(state.evaluated, val, batch)


def train(cfg: Config, resume: bool = False) -> Path:
    """Train ``cfg`` as one run and return its folder (config.yaml, history.csv, tb/, checkpoints/).

    Workflows of several runs (self-training rounds, sweeps) live in :mod:`cmrseg.workflows` and call this.
    """
    method = create_method(cfg.method)
    method.check(cfg)
    torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)  # before any work: a missing GPU fails fast
    ctx = init_distributed()
    seed_everything(cfg.train.seed)  # same on every rank: identical initial weights
    run_dir = Path(cfg.train.out_dir) / cfg.train.name
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.pt"
    if run_dir.exists() and last.exists() and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it or choose another name")
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "config.yaml")

    state = setup(cfg, method, ctx, device, last, resume)
    if resume and last.exists():
        restore(state, last, run_dir, ctx.enabled)
    logger = MetricLogger(run_dir) if ctx.is_main else None
    t0 = time.time()
    running: dict[str, list[float]] = {}
    state.model.train()

    def elapsed() -> float:
        return state.prior_min + (time.time() - t0) / 60

    bar = tqdm(range(state.start, cfg.optim.iterations), initial=state.start, total=cfg.optim.iterations,
               desc=cfg.train.name, disable=not cfg.train.progress or not ctx.is_main, dynamic_ncols=True)
    for it in bar:
        logs = step(state, it, device, elapsed())
        for k, v in logs.items():
            running.setdefault(k, []).append(v)
        bar.set_postfix(loss=f"{logs['loss/total']:.3f}", best=f"{state.best:.3f}")
        timed_out = agree((cfg.train.max_minutes is not None and elapsed() > cfg.train.max_minutes) or (
            cfg.optim.budget_minutes is not None and elapsed() >= cfg.optim.budget_minutes), ctx, device)
        at_eval = (it + 1) % cfg.train.val_every == 0 or it + 1 == cfg.optim.iterations or timed_out
        if at_eval and not ctx.is_main:  # only rank 0 validates, logs and saves
            running.clear()
            if timed_out:
                break
        elif at_eval:
            row = {k: float(np.mean(v)) for k, v in running.items()}
            running.clear()
            row["lr"] = state.opt.param_groups[0]["lr"]
            row["minutes"] = elapsed()
            if state.data.val:
                row.update(evaluate(state))
                if row[method.selection_metric] > state.best:
                    state.best = row[method.selection_metric]
                    state.save(ckpt_dir / "best.pt", it + 1, elapsed())
            else:
                state.save(ckpt_dir / "best.pt", it + 1, elapsed())
            assert logger is not None
            logger.log(it + 1, row)
            state.save(last, it + 1, elapsed())
            if timed_out:
                console.print(f"[yellow]stopping at iteration {it + 1} after {elapsed():.1f} min (time budget)[/]")
                break
    sync_buffers(state.model, ctx)  # BN statistics of the last local forwards -> rank 0's (saved) values
    if logger is not None:
        logger.close()
        console.print(f"[bold green]done[/] {run_dir} best val mean Dice {state.best:.4f}")
    return run_dir
