"""Workflows of several engine runs (self-training rounds, label-budget sweeps). They call the engine's
:func:`~cmrseg.engine.train`, which trains exactly one run and never calls back up here."""

from __future__ import annotations

from pathlib import Path

from cmrseg.config.schema import Config


def fit(cfg: Config, resume: bool = False) -> Path:
    """Train ``cfg``: one engine run, or the workflow its method declares (``Method.workflow``, e.g. the rounds
    of self-training). Returns the run folder (``checkpoints/best.pt`` is the model to use)."""
    from cmrseg.engine import train
    from cmrseg.methods.base import method_class

    workflow = getattr(method_class(cfg.method.name), "workflow", None)
    if workflow == "self-training":
        from cmrseg.workflows.self_training import train_rounds

        return train_rounds(cfg, resume)
    return train(cfg, resume=resume)
