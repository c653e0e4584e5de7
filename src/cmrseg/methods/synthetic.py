"""Segmentation without paired labels: synthetic supervision + Mumford-Shah + augmentation invariance.

``synthetic-unsupervised`` = alpha x Dice on (I_syn, label) pairs of the ``synthetic`` stream (label maps
translated by a frozen translator or domain-randomised, :mod:`cmrseg.data.synthetic_pairs`; declare it under
``data.synthetic``)
+ beta x nested MS* with bias field, inclusion and TV (``ms_nested``) on the real ``unlabelled`` images
+ gamma x L_AI (``augmentation_invariance``) on the same real images. No term reads a real image's label.
Needs a nested U-Net with a bias head (``model.params: {output: nested, bias_head: true}``). Defaults alpha 1,
beta 0.1 and gamma 1, the last two ramped up over 500 iterations; none was tuned.
"""

from __future__ import annotations

from typing import Any

from cmrseg.errors import ConfigError
from cmrseg.methods.base import Method, register_method


@register_method("synthetic-unsupervised")
class SyntheticUnsupervised(Method):
    default_terms = (
        {"loss": "dice_ce", "stream": "synthetic", "weight": 1.0, "params": {"ce_weight": 0.0}},
        {"loss": "ms_nested", "stream": "unlabelled", "weight": 0.1, "ramp_up": 500,
         "params": {"tv_weight": 0.1, "inclusion_weight": 1.0, "use_bias": True, "bias_tv_weight": 1.0}},
        {"loss": "augmentation_invariance", "stream": "unlabelled", "weight": 1.0, "ramp_up": 500},
    )

    example = {"model": {"params": {"features": [4, 8, 16], "output": "nested", "bias_head": True}},
               "data": {"labelled": 1, "synthetic": {"synthetic": {"source": "random_contrast", "pool": "labelled"}},
                        "stream_batch": {"synthetic": 2, "unlabelled": 2}}}

    def check(self, cfg: Any) -> None:
        if "synthetic" in self.streams and "synthetic" not in cfg.data.synthetic:
            raise ConfigError("method 'synthetic-unsupervised' reads the stream 'synthetic': declare it as "
                              "data.synthetic: {synthetic: {translator: <label2image checkpoint>, pool: labelled}} "
                              "or {synthetic: {source: random_contrast, pool: labelled}}")
        if any(t.loss == "ms_nested" for t in self.terms) and cfg.model.params.get("output") != "nested":
            raise ConfigError("method 'synthetic-unsupervised' has an ms_nested term: set model.params.output: nested")
