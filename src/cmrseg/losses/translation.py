"""Loss terms of the label-to-image translator (method ``label2image``), read from one MUNIT pass.

All terms take the output dict of :meth:`cmrseg.models.translator.Label2Image.forward` and the method's joint
batch (``label``, ``label_position`` of the label-map stream; ``image`` of the image stream).

* ``t2i_gan``: LSGAN generator loss of the fake images (Mao et al., ICCV 2017), mean over the scales of a
  :class:`~cmrseg.models.translator.MultiScaleDiscriminator` that the loss declares with its own Adam and the
  engine trains, as for :mod:`cmrseg.losses.adversarial`: each step the engine first updates the discriminator on
  detached images, then the generator term is computed with the discriminator frozen (the model's backward
  reaches the generators only); its weights and Adam state are checkpointed with the run.
* ``t2i_image_recon`` (L1, image -> content+style -> image), ``t2i_label_recon`` (cross-entropy, label ->
  content -> label), ``t2i_content_recon`` / ``t2i_style_recon`` (L1 between the codes of the fake image and
  the codes it was made from), ``t2i_cycle`` (cross-entropy of label -> image -> label): MUNIT's terms
  (Huang et al., ECCV 2018; default weights there 1 / 10 / 1 / 1 / 10).
* ``intensity_constraint`` (L_IC): inside each label region the synthetic image stays near that region's
  mean; the Mumford-Shah data term of :func:`cmrseg.losses.mumford_shah.ms_data_term` with the one-hot label
  map as the (hard) class maps, i.e. ``sum_n mean_x |I(x) - c_n|^2 [label(x) = n]``, ``c_n`` the region mean.
* ``intensity_order`` (optional contrast prior, not in the reference): region means ordered as the sequence
  dictates (blood pools brighter than myocardium), hinge with a margin; unpaired translation alone can map the
  LV to a dark disc in a bright ring.
* ``position_class`` (L_SC): cross-entropy of the model's slice-position classifier on the content code of the
  label map and of the fake image, target = the slice's position within the labelled extent in 5 classes
  (:func:`position_class`, base = 0 .. apex = 4).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from cmrseg.errors import ConfigError
from cmrseg.labels import BACKGROUND, LV, MYO, RV
from cmrseg.losses.mumford_shah import ms_data_term
from cmrseg.losses.registry import register_loss
from cmrseg.losses.shape import one_hot
from cmrseg.models.auxiliary import TrainsDiscriminator
from cmrseg.models.translator import MultiScaleDiscriminator


def _get(outputs: dict[str, torch.Tensor], key: str, loss: str) -> torch.Tensor:
    if key not in outputs:
        raise ConfigError(f"loss '{loss}' reads the translator output '{key}': use it with method 'label2image' "
                          "and model 'label2image'")
    return outputs[key]


def position_class(position: torch.Tensor, n_classes: int = 5) -> torch.Tensor:
    """Positions in [0, 1] (base .. apex within the labelled extent) -> classes ``0 .. n_classes - 1`` of equal width.

    Example:
        >>> position_class(torch.tensor([0.0, 0.19, 0.2, 0.5, 1.0])).tolist()
        [0, 0, 1, 2, 4]
    """
    return (position.clamp(0, 1) * n_classes).floor().clamp_max(n_classes - 1).long()


def lsgan(outputs: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """Mean over scales of ``mean (D(x) - target)^2``."""
    return torch.stack([(o - target).square().mean() for o in outputs]).mean()


@register_loss("t2i_gan")
class ImageGAN(TrainsDiscriminator):
    """LSGAN generator loss of ``fake_image``, with a multi-scale discriminator the engine trains (see module
    docstring).

    Args:
        dim, n_layers, n_scales: discriminator width, stride-2 layers per scale, scales.
        lr, betas: the discriminator's Adam (MUNIT: 1e-4, (0.5, 0.999)).
        in_channels: image channels.
        seed: seed of its initial weights (a private RNG: building the loss leaves the global stream as is).
    """

    def __init__(self, dim: int = 16, n_layers: int = 3, n_scales: int = 3, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.5, 0.999), in_channels: int = 1, seed: int = 0) -> None:
        self.declare_discriminator(lambda: MultiScaleDiscriminator(in_channels, dim, n_layers, n_scales), seed, lr,
                                   betas)

    def auxiliary_losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
                         ) -> dict[str, torch.Tensor]:
        """The discriminator's ``lsgan(D(real), 1) + lsgan(D(fake), 0)`` on detached images."""
        aux = self.networks["discriminator"]
        aux.module.requires_grad_(True)
        real, fake = _get(outputs, "real_image", "t2i_gan"), _get(outputs, "fake_image", "t2i_gan")
        return {"discriminator": lsgan(aux.trainable(real.detach()), 1.0) + lsgan(aux.trainable(fake.detach()), 0.0)}

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fake = _get(outputs, "fake_image", "t2i_gan")
        self.discriminator.requires_grad_(False)
        return lsgan(self.discriminator(fake), 1.0)


@register_loss("t2i_image_recon")
class ImageRecon:
    """Mean absolute error between ``recon_image`` and the real image (within-domain reconstruction)."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        recon = _get(outputs, "recon_image", "t2i_image_recon")
        return F.l1_loss(recon, _get(outputs, "real_image", "t2i_image_recon"))


@register_loss("t2i_label_recon")
class LabelRecon:
    """Cross-entropy of ``recon_label_logits`` (label -> content -> label) against the label map."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(_get(outputs, "recon_label_logits", "t2i_label_recon"), batch["label"])


@register_loss("t2i_cycle")
class LabelCycle:
    """Cross-entropy of ``cycle_label_logits`` (label -> fake image -> content -> label): the fake image must
    carry the anatomy of the label map it was made from."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(_get(outputs, "cycle_label_logits", "t2i_cycle"), batch["label"])


@register_loss("t2i_content_recon")
class ContentRecon:
    """L1 between the content of the fake image and the label map's content (plus, with the model's
    ``image_to_label`` pass, between the content of the fake label map and the image's content)."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = F.l1_loss(_get(outputs, "content_fake", "t2i_content_recon"), outputs["content_label"])
        if "content_fake_label" in outputs:
            loss = loss + F.l1_loss(outputs["content_fake_label"], outputs["content_image"])
        return loss


@register_loss("t2i_style_recon")
class StyleRecon:
    """L1 between the style code of the fake image and the (random) style it was made with."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.l1_loss(_get(outputs, "style_fake", "t2i_style_recon"), outputs["style"])


def intensity_constraint(image: torch.Tensor, label: torch.Tensor, num_classes: int = 4,
                         include_background: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """L_IC: ``sum_n mean_x |I(x) - c_n|^2 [label(x) = n]`` per image, mean over the batch; ``c_n`` = mean of
    ``I`` over region ``n`` of that image (Mumford-Shah data term on hard maps). 0 iff every region is constant.

    Args:
        image: (N, 1, H, W) synthetic images.
        label: (N, H, W) label maps they were made from.
        include_background: constrain the background region too (default off: outside the heart an MR image
            holds lungs, liver, fat and muscle, which no single level describes).

    Example:
        >>> img = torch.tensor([[[[1.0, 3.0], [5.0, 5.0]]]])
        >>> round(float(intensity_constraint(img, torch.tensor([[[1, 1], [2, 2]]]))), 6)  # region 1: (1 + 1) / 4
        0.5
    """
    maps = one_hot(label, num_classes).to(image.dtype)
    if not include_background:
        maps = torch.cat([maps[:, :BACKGROUND], maps[:, BACKGROUND + 1 :]], 1)
    return ms_data_term(image, maps, eps=eps)


@register_loss("intensity_constraint")
class IntensityConstraint:
    """L_IC on ``fake_image`` and the label maps it was translated from (:func:`intensity_constraint`).

    Args:
        include_background: also constrain the background region.
    """

    def __init__(self, include_background: bool = False, num_classes: int = 4) -> None:
        self.include_background, self.num_classes = include_background, num_classes

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fake = _get(outputs, "fake_image", "intensity_constraint")
        return intensity_constraint(fake.float(), batch["label"], self.num_classes, self.include_background)


def intensity_order(image: torch.Tensor, label: torch.Tensor, brighter: Sequence[tuple[int, int]],
                    margin: float = 0.5, num_classes: int = 4, eps: float = 1e-6) -> torch.Tensor:
    """Contrast prior: ``mean relu(margin - (c_a - c_b))`` over the pairs ``(a, b)`` of ``brighter`` and the images
    holding both regions; ``c_n`` = mean of ``I`` over region ``n`` of that image. 0 when every region ``a`` is at
    least ``margin`` brighter than its ``b`` (bSSFP cine and LGE: blood pools brighter than myocardium).

    Example:
        >>> img = torch.tensor([[[[0.0, 0.0], [2.0, 2.0]]]])  # myocardium (row 0) darker than LV (row 1) by 2
        >>> lab = torch.tensor([[[2, 2], [3, 3]]])
        >>> float(intensity_order(img, lab, [(3, 2)])), float(intensity_order(-img, lab, [(3, 2)]))  # 0.5 + 2
        (0.0, 2.5)
    """
    maps = one_hot(label, num_classes).to(image.dtype)
    area = maps.sum((-2, -1))
    means = (image * maps).sum((-2, -1)) / area.clamp_min(eps)  # (N, classes)
    terms = []
    for a, b in brighter:
        both = (area[:, a] > 0) & (area[:, b] > 0)
        terms.append((F.relu(margin - (means[:, a] - means[:, b])) * both).sum() / both.sum().clamp_min(1))
    return torch.stack(terms).mean()


@register_loss("intensity_order")
class IntensityOrder:
    """Contrast prior on ``fake_image`` (:func:`intensity_order`): unpaired translation alone does not fix which
    label gets which brightness (a GAN can paint a dark LV in a bright ring and still fool its discriminator);
    this term encodes the sequence's known contrast. Default: LV and RV blood brighter than myocardium by 0.5
    (z-scored units), which holds for bSSFP cine and for (mostly healthy) LGE myocardium.

    Args:
        brighter: ``[a, b]`` label-code pairs, region ``a`` brighter than region ``b``.
        margin: required difference of region means.
    """

    def __init__(self, brighter: Sequence[Sequence[int]] = ((LV, MYO), (RV, MYO)), margin: float = 0.5,
                 num_classes: int = 4) -> None:
        self.brighter = [(int(a), int(b)) for a, b in brighter]
        bad = [p for p in self.brighter if not (0 <= p[0] < num_classes and 0 <= p[1] < num_classes) or p[0] == p[1]]
        if bad or not self.brighter:
            raise ConfigError(f"intensity_order.brighter needs pairs of different label codes in 0..{num_classes - 1}, "
                              f"got {list(brighter)}")
        self.margin, self.num_classes = margin, num_classes

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fake = _get(outputs, "fake_image", "intensity_order")
        return intensity_order(fake.float(), batch["label"], self.brighter, self.margin, self.num_classes)


@register_loss("position_class")
class PositionClass:
    """L_SC: cross-entropy of the slice-position classes predicted from the content codes.

    Mean over the label map's code (``position_logits``) and, with ``use_fake``, the fake image's code
    (``position_logits_fake``), which ties the synthetic image's appearance to the slice level.

    Args:
        n_classes: position classes (5: base .. apex); must match the model's ``position_classes``.
        use_fake: include the fake image's content code.
    """

    def __init__(self, n_classes: int = 5, use_fake: bool = True) -> None:
        self.n_classes, self.use_fake = n_classes, use_fake

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "position_logits" not in outputs:
            raise ConfigError("loss 'position_class' needs the translator's slice-position classifier "
                              "(model 'label2image' with model.params.position_classes > 0)")
        logits = outputs["position_logits"]
        if logits.shape[1] != self.n_classes:
            raise ConfigError(f"position_class has {self.n_classes} classes but the model's classifier has "
                              f"{logits.shape[1]} (model.params.position_classes)")
        if "label_position" not in batch:
            raise ConfigError("loss 'position_class' needs label_position: put it on a labelled stream")
        target = position_class(batch["label_position"], self.n_classes)
        parts = [logits] + ([outputs["position_logits_fake"]] if self.use_fake and "position_logits_fake" in outputs
                            else [])
        return torch.stack([F.cross_entropy(p, target) for p in parts]).mean()
