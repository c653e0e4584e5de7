"""Per-iteration metrics to a CSV file and TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path


class MetricLogger:
    """Append rows of scalars to ``history.csv`` and to TensorBoard under ``tb/``."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.path = run_dir / "history.csv"
        self.rows: list[dict[str, float]] = []
        if self.path.exists():
            with self.path.open() as f:
                self.rows = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is a declared dependency; degrade gracefully anyway
                self.tb = None

    def log(self, iteration: int, values: dict[str, float]) -> None:
        row = {"iteration": float(iteration), **values}
        self.rows.append(row)
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, iteration)
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
