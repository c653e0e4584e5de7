"""Shape and position prior losses: exponential-logarithmic loss, autoencoder shape priors, slice position.

* ``exp_log``: K. C. L. Wong et al., "3D Segmentation with Exponential Logarithmic Loss for Highly
  Unbalanced Object Sizes", MICCAI 2018.
* ``shape_recon`` / ``shape_plausibility``: the shape reconstruction network (SRNN) regulariser of
  Q. Yue et al., "Cardiac Segmentation from LGE MRI Using Deep Neural Network Incorporating Shape and
  Spatial Priors" (SRSCN), MICCAI 2019.
* ``shape_code``: the anatomical constraint of O. Oktay et al., "Anatomically Constrained Neural Networks
  (ACNN)", IEEE TMI 2018 (distance between autoencoder codes of prediction and ground truth).
* ``slice_position``: SRSCN's spatial constraint network (SCN), a regression of the slice position.

The autoencoder losses load a frozen :class:`~cmrseg.models.shape_ae.ShapeAE` from a checkpoint (parameter
``autoencoder``); it is not part of the segmenter, so the engine's optimiser never updates it, and gradients
flow through it to the prediction only.

Normalisation and weight scales:

* ``shape_recon``, ``shape_plausibility``: squared distance between class-probability maps (softmax of the
  AE's reconstruction logits), **summed over classes, averaged over pixels and the batch**: a density in
  [0, 2], independent of the patch size. Reading SRSCN's ``||.||_F^2`` (weight 5e-4) as a sum over an
  image's pixels, the same balance here is ``5e-4 x H x W`` (8.2 for 128 x 128 patches).
* ``shape_code``: mean squared difference of the codes (mean over code elements and the batch); codes are
  tanh outputs in (-1, 1), so the term lies in [0, 4].
* Measured with the ACDC shape AE (``configs/acdc/shape_ae.yaml``) on 128 px patches of the first 7 training
  patients: ``shape_recon`` 0.004-0.013 for trained U-Nets (Dice+CE 0.07-0.12 there) and 0.51 at
  initialisation (Dice+CE 2.4); ``shape_code`` 0.001-0.004 trained, 0.16 at initialisation. With the default
  weights, 8.2 x ``shape_recon`` is ~0.5-1x Dice+CE for trained models (1.7x at initialisation) and
  1.0 x ``shape_code`` 1-7 %; neither weight was tuned.
* ``slice_position``: mean squared error of positions in [0, 1]; a constant guess of 0.5 scores 1/12 on
  uniformly spread slices. SRSCN's weight 1e-6 is for its own scale; with AdamW only the *relative* size of
  the gradients reaching the shared encoder matters (the head's own parameters get no other gradient, and
  Adam normalises their step size, so the head learns at any weight): a weight that makes the term a few
  per cent of Dice+CE (0.1 here) regularises the encoder without competing with segmentation.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from cmrseg.errors import ConfigError
from cmrseg.labels import UNANNOTATED
from cmrseg.losses.registry import register_loss
from cmrseg.models.auxiliary import AuxiliaryNetwork
from cmrseg.models.shape_ae import ShapeAE, load_shape_ae


def one_hot(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(N, H, W)`` integer labels -> ``(N, C, H, W)`` float one-hot maps; codes outside ``[0, C)`` are an error."""
    if bool((label < 0).any()) or bool((label >= num_classes).any()):
        bad = sorted(set(label.unique().tolist()) - set(range(num_classes)))
        hint = " (4 = not annotated: shape losses need fully labelled maps)" if UNANNOTATED in bad else ""
        raise ValueError(f"label codes {bad} outside 0..{num_classes - 1}{hint}")
    return F.one_hot(label.long(), num_classes).permute(0, 3, 1, 2).float()


@register_loss("exp_log")
class ExpLog:
    """Exponential-logarithmic loss (Wong et al. 2018): ``w_dice L_dice + w_ce L_ce`` with

    * ``L_dice = mean_i (-ln Dice_i) ** gamma_dice``, soft Dice per class ``i`` pooled over the batch
      (``(2 sum p_i g_i + smooth) / (sum p_i + sum g_i + smooth)``);
    * ``L_ce = mean_x w_l(x) (-ln p_l(x)(x)) ** gamma_ce`` over all pixels, ``l(x)`` the true label, with
      class weights ``w_l = (sum_k f_k / f_l) ** 0.5`` from the label frequencies ``f`` (pixel counts of the
      batch, or ``frequencies`` given, e.g. of the training set as in the paper).

    Args:
        w_dice, w_ce: weights of the two parts (paper: 0.8, 0.2).
        gamma_dice, gamma_ce: exponents (paper: 0.3 both); < 1 emphasises poorly segmented classes / pixels.
        include_background: include class 0 in ``L_dice`` (the paper averages over all labels).
        frequencies: fixed label frequencies (any scale), one per class; default: counted in each batch.
        smooth: Dice smoothing; ``eps``: floor of ``-ln`` values before the power (``x ** gamma`` has an
            infinite slope at 0).
    """

    def __init__(self, w_dice: float = 0.8, w_ce: float = 0.2, gamma_dice: float = 0.3, gamma_ce: float = 0.3,
                 include_background: bool = True, frequencies: list[float] | None = None, smooth: float = 1e-5,
                 eps: float = 1e-6) -> None:
        self.w_dice, self.w_ce, self.gamma_dice, self.gamma_ce = w_dice, w_ce, gamma_dice, gamma_ce
        self.include_background, self.smooth, self.eps = include_background, smooth, eps
        if frequencies is not None and (len(frequencies) < 2 or min(frequencies) <= 0):
            raise ConfigError(f"exp_log frequencies must be one positive value per class, got {frequencies}")
        self.frequencies = None if frequencies is None else torch.tensor(frequencies, dtype=torch.float32)

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits, label = outputs["logits"], batch["label"]
        c = logits.shape[1]
        target = one_hot(label, c).to(logits.dtype)
        probs, log_probs = torch.softmax(logits, 1), torch.log_softmax(logits, 1)
        dims = (0, 2, 3)
        dice = (2 * (probs * target).sum(dims) + self.smooth) / (probs.sum(dims) + target.sum(dims) + self.smooth)
        if not self.include_background:
            dice = dice[1:]
        l_dice = (-torch.log(dice)).clamp_min(self.eps).pow(self.gamma_dice).mean()
        if self.frequencies is not None:
            if len(self.frequencies) != c:
                raise ConfigError(f"exp_log frequencies has {len(self.frequencies)} values for {c} classes")
            freq = self.frequencies.to(logits)
        else:
            freq = target.sum(dims)
        weights = torch.where(freq > 0, (freq.sum() / freq.clamp_min(1e-12)).sqrt(), torch.zeros_like(freq))
        nll = -(log_probs * target).sum(1)  # -ln p_l(x)(x), (N, H, W)
        w = weights[label.long()]
        l_ce = (w * nll.clamp_min(self.eps).pow(self.gamma_ce)).mean()
        return self.w_dice * l_dice + self.w_ce * l_ce


class _AutoencoderLoss:
    name = "shape"

    def __init__(self, autoencoder: str | Path | None = None) -> None:
        self.networks = {"autoencoder": AuxiliaryNetwork(load_shape_ae(autoencoder, f"loss '{self.name}'"))}
        self.autoencoder = str(autoencoder)

    @property
    def ae(self) -> ShapeAE:
        """The frozen autoencoder (an auxiliary network: the engine moves it to the device)."""
        return self.networks["autoencoder"].module  # type: ignore[return-value]

    def reconstruct(self, maps: torch.Tensor) -> torch.Tensor:
        """Class probabilities of the frozen AE's reconstruction of ``maps``."""
        return torch.softmax(self.ae(maps)["logits"], 1)

    def _maps(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(outputs["logits"], 1)
        if "label" not in batch:
            raise ConfigError(f"loss '{self.name}' compares with the ground truth: put it on a labelled stream "
                              "(use 'shape_plausibility' on unlabelled streams)")
        return probs, one_hot(batch["label"], probs.shape[1]).to(probs.dtype)


@register_loss("shape_recon")
class ShapeReconstruction(_AutoencoderLoss):
    """SRSCN shape term ``||AE(softmax prediction) - AE(one-hot GT)||^2`` on the AE's reconstructions.

    Per-pixel squared distance of the two reconstructed probability maps, summed over classes, mean over pixels
    and batch (see the module docstring for the weight scale). Zero when the prediction is the ground truth.

    Args:
        autoencoder: checkpoint of a pre-trained ``shape-ae`` model (frozen here).
    """

    name = "shape_recon"

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        probs, target = self._maps(outputs, batch)
        with torch.no_grad():
            ref = self.reconstruct(target)
        return (self.reconstruct(probs) - ref).pow(2).sum(1).mean()


@register_loss("shape_plausibility")
class ShapePlausibility(_AutoencoderLoss):
    """``||AE(p) - p||^2`` for predictions ``p`` without labels: a plausible shape is one the AE reproduces.

    Same normalisation as ``shape_recon``. With ``detach`` (default) the reconstruction is a fixed target
    (the prediction is pulled toward its projection onto the learned shapes); without it the gradient also
    flows through the AE, which lets the segmenter look for maps the AE happens to reproduce.

    Args:
        autoencoder: checkpoint of a pre-trained ``shape-ae`` model (frozen here).
        detach: treat ``AE(p)`` as a constant target.
    """

    name = "shape_plausibility"

    def __init__(self, autoencoder: str | Path | None = None, detach: bool = True) -> None:
        super().__init__(autoencoder)
        self.detach = detach

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        probs = torch.softmax(outputs["logits"], 1)
        if self.detach:
            with torch.no_grad():
                rec = self.reconstruct(probs)
        else:
            rec = self.reconstruct(probs)
        return (rec - probs).pow(2).sum(1).mean()


@register_loss("shape_code")
class ShapeCode(_AutoencoderLoss):
    """ACNN shape term: mean squared difference of the AE encoder codes of prediction and one-hot GT.

    Args:
        autoencoder: checkpoint of a pre-trained ``shape-ae`` model (frozen here).
    """

    name = "shape_code"

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        probs, target = self._maps(outputs, batch)
        with torch.no_grad():
            ref = self.ae.encode(target)
        return (self.ae.encode(probs) - ref).pow(2).mean()


@register_loss("slice_position")
class SlicePosition:
    """SCN term: mean squared error between the position head's output and the slice's position.

    Needs ``model.params.position_head: true`` (``outputs["position"]``, in (0, 1)).

    Args:
        target: batch key of the target: ``label_position`` (default; position within the labelled extent of
            the volume, first..last labelled slice = 0..1; labelled streams only) or ``slice_position``
            (``z / (nz - 1)``, any stream).
    """

    TARGETS = ("label_position", "slice_position")

    def __init__(self, target: str = "label_position") -> None:
        if target not in self.TARGETS:
            raise ConfigError(f"slice_position target must be one of {list(self.TARGETS)}, not {target!r}")
        self.target = target

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "position" not in outputs:
            raise ConfigError("loss 'slice_position' needs a position head: set model.params.position_head: true")
        if self.target not in batch:
            raise ConfigError(f"loss 'slice_position': the stream has no '{self.target}' (label_position exists on "
                              "labelled streams only; use params {target: slice_position} elsewhere)")
        return F.mse_loss(outputs["position"], batch[self.target].to(outputs["position"].dtype))
