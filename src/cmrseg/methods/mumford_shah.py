"""Mumford-Shah methods (Kim & Ye, IEEE TIP 2020) as compositions of loss terms over data streams.

* ``ms-unsupervised``: MS loss (+ length term; + bias field with ``model.params.bias_head: true`` and
  ``method.terms[0].params.use_bias: true``) on every training image; no labels. Use
  ``model.params.num_classes`` as the number of clusters.
* ``ms-semi``: Dice+CE on the labelled patients + lambda x MS on all training images (labelled + unlabelled).
* ``ms-regularised``: fully supervised Dice+CE + lambda x MS on the same labelled images.

Lambda is the ``weight`` of the MS term (default 0.1, ramped up over the first 500 iterations).
"""

from cmrseg.methods.base import Method, register_method

_MS = {"loss": "mumford_shah", "params": {"tv_weight": 0.1}}


@register_method("ms-unsupervised")
class MSUnsupervised(Method):
    default_terms = ({**_MS, "stream": "images", "weight": 1.0},)
    example: dict = {}


@register_method("ms-semi")
class MSSemi(Method):
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},
                     {**_MS, "stream": "images", "weight": 0.1, "ramp_up": 500})
    example = {"data": {"labelled": 1}}


@register_method("ms-regularised")
class MSRegularised(Method):
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},
                     {**_MS, "stream": "labelled", "weight": 0.1, "ramp_up": 500})
    example: dict = {}
