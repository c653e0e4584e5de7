"""Self-training with dense-CRF-refined pseudo-labels (Bai et al., MICCAI 2017).

Round 0 trains (or loads) a supervised model on the labelled patients. Each round r = 1..R then
(1) predicts the unlabelled training volumes with the previous round's best checkpoint, refines the softmax
with a dense CRF and writes pseudo-labels (``<run>/round<r>/pseudo/<case_id>.nii.gz``, code 4 where the
refined confidence is below ``confidence``), and (2) trains on labelled + ``pseudo_weight`` x pseudo-labelled
slices, fine-tuning the previous weights or re-initialising. The rounds are driven by
:mod:`cmrseg.engine.rounds`; each round is an ordinary run of the one engine.

Params (``method.params``):
    rounds: R (default 3). pretrained: checkpoint used as round 0 instead of training it.
    crf: refine pseudo-labels with the dense CRF (default true); crf_params: :class:`CRFConfig` fields.
    confidence: ignore pseudo-labelled pixels whose max probability is below this (default 0 = keep all).
    reinit: re-initialise each round instead of fine-tuning (default false).
    pseudo_weight: weight of the pseudo-label term (lambda; default 1).
    round_iterations: iterations per round (default: ``optim.iterations``).
"""

from __future__ import annotations

from typing import Any

from cmrseg.methods.base import Method, register_method


@register_method("self-training")
class SelfTraining(Method):
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},
                     {"loss": "masked_dice_ce", "stream": "pseudo", "weight": 1.0})

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if "pseudo_weight" in self.params:
            for term in self.terms:
                if term.stream == "pseudo":
                    term.weight = float(self.params["pseudo_weight"])

    @property
    def rounds(self) -> int:
        return int(self.params.get("rounds", 3))

    def option(self, key: str, default: Any) -> Any:
        return self.params.get(key, default)
