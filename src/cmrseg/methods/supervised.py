"""Fully supervised baseline: Dice + cross-entropy on the labelled stream."""

from cmrseg.methods.base import Method, register_method


@register_method("supervised")
class Supervised(Method):
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},)
    example: dict = {}


