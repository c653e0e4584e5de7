"""The one training engine, checkpoints and logging."""

from cmrseg.engine.trainer import train

__all__ = ["train"]
