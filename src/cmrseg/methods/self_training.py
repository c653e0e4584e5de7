"""Self-training with dense-CRF-refined pseudo-labels (Bai et al., MICCAI 2017).

Round 0 trains (or loads) a supervised model on the labelled patients. Each round r = 1..R then
(1) predicts the unlabelled training volumes with the previous round's best checkpoint, refines the softmax
with a dense CRF and writes pseudo-labels (``<run>/round<r>/pseudo/<case_id>.nii.gz``, code 4 where the
refined confidence is below ``confidence``), and (2) trains on labelled + ``pseudo_weight`` x pseudo-labelled
slices, fine-tuning the previous weights or re-initialising. The rounds are a workflow above the engine
(:mod:`cmrseg.workflows.self_training`); each round is an ordinary engine run of this method, whose ``pseudo``
stream the workflow declares under ``data.extra_labels``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cmrseg.config.schema import TermConfig
from cmrseg.methods.base import Method, MethodParams, register_method


class SelfTrainingParams(MethodParams):
    rounds: int = Field(3, ge=1, description="pseudo-label / retrain rounds after round 0")
    pretrained: str | None = Field(None, description="checkpoint used as round 0 instead of training it")
    crf: bool = Field(True, description="refine pseudo-labels with the dense CRF")
    crf_params: dict[str, Any] = Field(default_factory=dict, description="CRFConfig fields (cmrseg.postprocess.crf)")
    confidence: float = Field(0.0, ge=0.0, le=1.0, description="ignore pseudo-labelled pixels whose max probability "
                              "is below this (0 = keep all)")
    reinit: bool = Field(False, description="re-initialise each round instead of fine-tuning")
    pseudo_weight: float | None = Field(None, description="weight of the pseudo-label term (lambda); None = the "
                                        "term's own")
    round_iterations: int | None = Field(None, ge=1, description="iterations per round (default optim.iterations)")


@register_method("self-training")
class SelfTraining(Method):
    Params = SelfTrainingParams
    default_terms = ({"loss": "dice_ce", "stream": "labelled", "weight": 1.0},
                     {"loss": "masked_dice_ce", "stream": "pseudo", "weight": 1.0})
    workflow = "self-training"  # trained in rounds by cmrseg.workflows.self_training
    example = {"data": {"labelled": 1}, "method": {"params": {"rounds": 1, "crf": False}}}

    @classmethod
    def configure_terms(cls, params: Any, terms: list[TermConfig]) -> list[TermConfig]:
        if params.pseudo_weight is not None:
            terms = [t.model_copy(update={"weight": params.pseudo_weight}) if t.stream == "pseudo" else t
                     for t in terms]
        return terms
