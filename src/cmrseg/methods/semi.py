"""A modern semi-supervised core over the one engine: a mean teacher, weak-to-strong consistency and
bidirectional copy-paste, composable with every other term (painted pairs, shape priors, Mumford-Shah).

* **Mean teacher** (Tarvainen & Valpola, NeurIPS 2017): the engine's EMA of the model (``optim.ema``, e.g. 0.99)
  labels the unlabelled slices; with ``teacher: self`` the model's own prediction does (FixMatch).
* **Weak-to-strong consistency** (FixMatch, Sohn et al., NeurIPS 2020; UniMatch, Yang et al., CVPR 2023): the
  teacher's hard pseudo-labels on the weakly augmented unlabelled batch (the engine's usual augmentation), kept
  where its confidence reaches ``threshold`` (else 4 = ignored), supervise the model on a *strong* view of the same
  slices: stronger intensity changes (gamma, contrast, brightness, noise, blur) and CutMix within the batch. The
  view is the derived stream ``strong``.
* **Bidirectional copy-paste** (BCP, Bai et al., CVPR 2023): a box of a labelled slice pasted into an unlabelled
  one and the reverse, each supervised by the matching mix of label and pseudo-label: the derived stream
  ``copy_paste``, built from the ``labelled`` and ``unlabelled`` streams.

Terms read the derived streams like any other (``masked_dice_ce`` ignores the untrusted pixels), so e.g.
``shape_plausibility`` on ``strong`` puts the denoising shape prior on unlabelled predictions, and ``dice_ce`` on a
``synthetic`` stream (``data.synthetic``) adds painted pairs.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from cmrseg.errors import ConfigError
from cmrseg.labels import UNANNOTATED
from cmrseg.methods.base import (Batches, Method, MethodParams, StepContext, frozen_bn_statistics,
                                 register_method)
from cmrseg.transforms.intensity import IntensityAugConfig, intensity_augment
from cmrseg.transforms.mixing import copy_paste, cutmix

DERIVED = frozenset({"strong", "copy_paste"})
STRONG_INTENSITY = {"p": 1.0, "gamma": (0.5, 2.0), "contrast": (0.5, 1.5), "brightness": 0.3, "noise_std": 0.1,
                    "blur_p": 0.5}


class SemiParams(MethodParams):
    teacher: Literal["ema", "self"] = Field("ema", description="who makes the pseudo-labels: the engine's EMA of "
                                            "the model (optim.ema; mean teacher) or the model itself (FixMatch)")
    threshold: float = Field(0.9, ge=0, le=1, description="confidence below which a pseudo-labelled pixel is "
                             "ignored")
    strong: IntensityAugConfig = Field(default_factory=lambda: IntensityAugConfig(**STRONG_INTENSITY),
                                       description="intensity changes of the strong view (on top of the weak one)")
    cutmix_p: float = Field(0.5, ge=0, le=1, description="probability that a strong view gets a CutMix box")
    cutmix_fraction: tuple[float, float] = Field((0.25, 0.6), description="range of the CutMix box side, as a "
                                                 "fraction of the patch side")
    copy_paste_fraction: float = Field(2 / 3, gt=0, le=1, description="side of the copy-paste box, as a fraction "
                                       "of the patch side (BCP: 2/3)")


@register_method("semi-supervised")
class SemiSupervised(Method):
    """Mean teacher + weak-to-strong consistency + bidirectional copy-paste (see module docstring)."""

    Params = SemiParams
    default_terms = (
        {"loss": "dice_ce", "stream": "labelled", "weight": 1.0},
        {"loss": "masked_dice_ce", "stream": "strong", "weight": 1.0, "ramp_up": 500},
        {"loss": "masked_dice_ce", "stream": "copy_paste", "weight": 1.0, "ramp_up": 500},
    )
    example = {"data": {"labelled": 1}, "optim": {"ema": 0.9}}

    @property
    def streams(self) -> set[str]:
        """The data streams to draw: the terms' streams, with the derived ones replaced by their sources."""
        named = {t.stream for t in self.terms}
        return (named - DERIVED) | ({"labelled", "unlabelled"} if named & DERIVED else set())

    def check(self, cfg: Any) -> None:
        if self.params.teacher == "ema" and cfg.optim.ema is None:
            raise ConfigError("method 'semi-supervised' with teacher 'ema' needs the engine's mean teacher: set "
                              "optim.ema (e.g. 0.99), or method.params.teacher: self")

    @torch.no_grad()
    def pseudo_labels(self, image: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """The teacher's hard labels on the weak view, 4 where its confidence is below the threshold."""
        teacher = ctx.teacher if self.params.teacher == "ema" else None
        if teacher is None:
            with frozen_bn_statistics(ctx.model):
                logits = ctx.model(image)["logits"]
        else:
            was_training = teacher.training
            teacher.eval()
            logits = teacher(image)["logits"]
            teacher.train(was_training)
        conf, hard = torch.softmax(logits.float(), 1).max(1)
        hard[conf < self.params.threshold] = UNANNOTATED
        return hard

    def forward(self, batches: Batches, ctx: StepContext) -> tuple[dict[str, Any], Batches]:
        named = {t.stream for t in self.terms}
        outputs = {n: ctx.run(n, b["image"]) for n, b in batches.items() if n in named}
        out_batches = dict(batches)
        if not named & DERIVED:
            return outputs, out_batches
        unl = batches["unlabelled"]["image"]
        pseudo = self.pseudo_labels(unl, ctx)
        gen = ctx.generator
        if "strong" in named:
            strong = intensity_augment(unl, self.params.strong, gen)
            strong, target = cutmix(strong, pseudo, self.params.cutmix_p, self.params.cutmix_fraction, gen)
            out_batches["strong"] = {"image": strong, "label": target}
            outputs["strong"] = ctx.run("strong", strong)
        if "copy_paste" in named:
            lab = batches["labelled"]
            images, targets = copy_paste(lab["image"], lab["label"], unl, pseudo, self.params.copy_paste_fraction,
                                         gen)
            out_batches["copy_paste"] = {"image": images, "label": targets}
            outputs["copy_paste"] = ctx.run("copy_paste", images)
        return outputs, out_batches
