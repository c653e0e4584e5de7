"""``cmrseg`` command line: thin wrappers over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from cmrseg.errors import CmrsegError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Label-efficient cardiac MRI segmentation (LV, Myo, RV) and clinical indices.")
console = Console(stderr=True, soft_wrap=True)  # never wrap: file paths in messages must stay whole


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


@app.command()
def train(
    config: Optional[Path] = typer.Argument(None, help="YAML config (see configs/)"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. -s optim.iterations=100"),
    data: Optional[Path] = typer.Option(None, help="dataset folder (overrides data.root)"),
    labelled: Optional[str] = typer.Option(None, help="N (first N training patients) or comma-separated ids"),
    name: Optional[str] = typer.Option(None, help="run name (folder under train.out_dir)"),
    resume: bool = typer.Option(False, help="continue the run from its last checkpoint"),
) -> None:
    """Train a method (supervised, semi-supervised, ...) declared in a config."""
    from cmrseg.config import load_config
    from cmrseg.engine import train as run_train

    overrides = list(set_)
    if data is not None:
        overrides.append(f"data.root={data}")
    if labelled is not None:
        overrides.append(f"data.labelled={labelled if labelled.isdigit() else '[' + labelled + ']'}")
    if name is not None:
        overrides.append(f"train.name={name}")
    try:
        cfg = load_config(config, overrides)
        run_dir = run_train(cfg, resume=resume)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(run_dir))


@app.command()
def predict(
    input: Path = typer.Argument(..., help="NIfTI file, folder of NIfTI files / dataset, or DICOM series folder"),
    output: Path = typer.Option(..., "-o", "--output", help="output file (single input) or folder"),
    checkpoint: Path = typer.Option(..., "-c", "--checkpoint", help="checkpoint (runs/<name>/checkpoints/best.pt)"),
    no_postprocess: bool = typer.Option(False, help="skip largest-component / hole filling"),
    save_bias: bool = typer.Option(False, help="also write the estimated bias field (bias-field models)"),
) -> None:
    """Segment volumes; outputs are NIfTI label maps on the input's own grid and header."""
    from cmrseg.inference.batch import predict_paths

    try:
        written, failed = predict_paths(input, output, checkpoint, postprocess=not no_postprocess,
                                        save_bias=save_bias)
    except CmrsegError as exc:
        _fail(exc)
    console.print(f"wrote {len(written)} label map(s) to {output}")
    if failed:
        for path, err in failed:
            console.print(f"[red]failed[/] {escape(str(path))}: {escape(err)}")
        raise typer.Exit(1)


@app.command()
def evaluate(
    pred: Path = typer.Option(..., help="folder of predicted label maps"),
    gt: Path = typer.Option(..., help="folder of ground-truth label maps (searched recursively)"),
    out: Optional[Path] = typer.Option(None, help="write per_case.csv, summary.json, clinical.csv, agreement.json"),
    match_clusters: bool = typer.Option(False, help="unsupervised clusterings: map cluster codes to classes "
                                        "(Hungarian on pooled Dice) before scoring; report apart from raw"),
) -> None:
    """Dice, HD95 and ASSD (mm) per volume and structure, and clinical indices with their agreement."""
    from cmrseg.metrics import evaluate_folders
    from cmrseg.metrics.tables import render_table

    try:
        result = evaluate_folders(pred, gt, match_clusters=match_clusters)
    except CmrsegError as exc:
        _fail(exc)
    render_table(result)
    if out is not None:
        result.save(out)
        console.print(f"saved tables to {out}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run folder written by `cmrseg train` / `cmrseg run`")) -> None:
    """Write RUN_DIR/report.html (overlays, training curves, metric tables)."""
    from cmrseg.report import write_report

    try:
        path = write_report(run_dir)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(path))


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="YAML config"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. -s optim.iterations=100"),
    data: Optional[Path] = typer.Option(None, help="dataset folder; default: synthetic phantom data"),
    name: Optional[str] = typer.Option(None, help="run name"),
) -> None:
    """The main job end to end: train, predict the validation volumes, evaluate, write the report."""
    from cmrseg.pipeline import run_pipeline

    try:
        run_dir = run_pipeline(config, set_, data, name)
    except CmrsegError as exc:
        _fail(exc)
    typer.echo(str(run_dir))


@app.command()
def phantom(out: Path = typer.Argument(..., help="folder to write an ACDC-like synthetic dataset"),
            patients: int = typer.Option(12), val: int = typer.Option(3), seed: int = typer.Option(0)) -> None:
    """Write the built-in synthetic cine phantom dataset (ACDC layout)."""
    from cmrseg.data.phantom import write_phantom_dataset

    typer.echo(str(write_phantom_dataset(out, n_patients=patients, n_val=val, seed=seed)))


@app.command()
def info() -> None:
    """List registered models, losses, methods and dataset layouts."""
    from cmrseg.losses.registry import available_losses
    from cmrseg.methods.base import available_methods
    from cmrseg.models.registry import available_models

    typer.echo(f"models:  {', '.join(available_models())}")
    typer.echo(f"losses:  {', '.join(available_losses())}")
    typer.echo(f"methods: {', '.join(available_methods())}")
    typer.echo("layouts: acdc, mscmr, mnms, nnunet, pairs (+ DICOM series for predict)")


def main() -> None:  # pragma: no cover
    sys.exit(app())
