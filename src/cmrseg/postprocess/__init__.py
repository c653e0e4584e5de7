"""Post-processing of predicted label maps."""

from cmrseg.postprocess.components import largest_component, postprocess_label

__all__ = ["largest_component", "postprocess_label"]
