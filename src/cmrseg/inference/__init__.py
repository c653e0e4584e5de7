"""Prediction with trained checkpoints."""

from cmrseg.inference.predictor import Prediction, Predictor

__all__ = ["Predictor", "Prediction"]
