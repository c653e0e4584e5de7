"""Typed run configuration: nested YAML validated into pydantic models (never ``eval``-ed)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cmrseg.data.preprocess import PreprocessConfig
from cmrseg.data.random_contrast import RandomContrastConfig, RestyleConfig
from cmrseg.models.registry import ModelConfig
from cmrseg.transforms.intensity import IntensityAugConfig
from cmrseg.transforms.spatial import SpatialAugConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtraLabelsConfig(_Strict):
    """A data stream whose labels come from a folder of ``<case_id>.nii.gz`` maps (pseudo/propagated labels),
    or from the dataset's own scribble maps (``labels_dir: scribbles``; e.g. MS-CMRSeg LGE train)."""

    labels_dir: str = Field(..., description="folder of label maps on each case's own grid (4 = ignore), or "
                            "'scribbles' for the cases' own scribble maps (4 = not annotated)")
    pool: str = Field("unlabelled", description="which cases of the split it labels: unlabelled | labelled | train")


class ExtraImagesConfig(_Strict):
    """An unlabelled image stream from another dataset folder (e.g. another scanner or sequence whose images
    a prior or an unsupervised term should see), read by any supported layout; its labels are never loaded."""

    root: str = Field(..., description="dataset folder (any supported layout), not the run's data.root")
    layout: str | None = Field(None, description="force a layout instead of auto-detection")
    split: Literal["train", "val", "test", "all"] = Field(
        "train", description="which of that folder's splits to read; keep its evaluation split out of training")


class SyntheticConfig(_Strict):
    """A data stream of synthetic (image, label) pairs: label maps of a pool painted by a frozen translator
    (``source: translator``, optionally with its contrast randomised: ``restyle: true``) or by domain
    randomisation (``source: random_contrast``)."""

    source: Literal["translator", "random_contrast"] = Field(
        "translator", description="who paints the label maps: a trained translator, or domain randomisation")
    translator: str | None = Field(None, description="checkpoint of a trained 'label2image' model (source: "
                                   "translator)")
    restyle: bool = Field(False, description="source translator: randomise the contrast of its images "
                          "(cmrseg.data.random_contrast.restyle_images)")
    params: dict[str, Any] = Field(default_factory=dict, description="ranges of the random draws: source "
                                   "random_contrast -> RandomContrastConfig; translator with restyle -> "
                                   "RestyleConfig (cmrseg.data.random_contrast)")
    pool: str = Field("labelled", description="whose label maps are painted: labelled | unlabelled | train "
                      "(their images are never read)")

    @model_validator(mode="after")
    def _source_needs(self) -> "SyntheticConfig":
        if self.source == "translator" and not self.translator:
            raise ValueError("a synthetic stream with source 'translator' needs translator: <label2image checkpoint>")
        if self.source == "translator" and self.params and not self.restyle:
            raise ValueError("params of a translator stream are the ranges of its restyling: set restyle: true, or "
                             "remove params")
        if self.source == "random_contrast" and self.translator:
            raise ValueError("source 'random_contrast' paints without a translator: remove translator, or set "
                             "source: translator")
        if self.source == "random_contrast" and self.restyle:
            raise ValueError("restyle is for translator streams; source 'random_contrast' randomises contrast "
                             "by itself")
        ranges = RandomContrastConfig if self.source == "random_contrast" else RestyleConfig
        if self.source == "random_contrast" or self.restyle:
            try:  # checked at load time, so a typo fails before any data is read
                ranges(**self.params)
            except ValidationError as e:
                problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'params'}: {err['msg']}"
                                     for err in e.errors())
                raise ValueError(f"params (cmrseg.data.random_contrast.{ranges.__name__}): {problems}") from None
        return self


class DataConfig(_Strict):
    root: str = Field("../shared/data/acdc", description="dataset folder (any supported layout)")
    layout: str | None = Field(None, description="force a layout instead of auto-detection")
    labelled: int | list[str] | None = Field(None, description="first N training patients, ids, or all")
    labelled_phases: list[str] | None = Field(None, description="keep labels of these phases only, e.g. [ED]")
    labelled_order: Literal["id", "groups"] = Field(
        "id", description="order in which `labelled: N` and `selection: N` count patients: id (ascending id) or "
        "groups (round-robin over the pathology groups, so a small budget spans them; ACDC's first 20 ids are all "
        "DCM)")
    selection: int | list[str] | None = Field(
        None, description="training patients held out of training to choose the checkpoint on (best.pt) instead "
        "of val: the last N labelled training patients in id order, or patient ids; val is then only reported")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="share of patients made val when the layout has no "
                                "split of its own (seeded)")
    cache_dir: str = Field(".cache/cmrseg", description="folder of preprocessed volumes (reused across runs)")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig, description="resampling, crop/pad and "
                                         "intensity normalisation (stored in checkpoints, repeated at inference)")
    patch: int | None = Field(128, description="training patch side in px (None = whole preprocessed slices)")
    foreground_p: float = Field(0.67, ge=0, le=1, description="share of labelled patches centred on the heart")
    stream_batch: dict[str, int] = Field(default_factory=dict,
                                         description="batch size per stream, e.g. {images: 8}; default optim.batch_size")
    extra_labels: dict[str, ExtraLabelsConfig] = Field(
        default_factory=dict, description="extra labelled streams by name, e.g. {pseudo: {labels_dir: ...}}")
    extra_images: dict[str, ExtraImagesConfig] = Field(
        default_factory=dict, description="unlabelled image streams from other folders by name, e.g. "
        "{lge: {root: ../shared/data/mscmr_lge, split: train}}")
    synthetic: dict[str, SyntheticConfig] = Field(
        default_factory=dict, description="synthetic-pair streams by name, e.g. {synthetic: {translator: ...}}")


class TermConfig(_Strict):
    """One loss term of a method: which loss, on which data stream, with which weight."""

    loss: str = Field(..., description="registered loss (`cmrseg info`), e.g. dice_ce, mumford_shah")
    stream: str = Field("labelled", description="data stream it reads: labelled | unlabelled | images | a name "
                        "declared under data.extra_labels / extra_images / synthetic")
    weight: float = Field(1.0, description="its weight in the summed loss")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the loss; unknown ones "
                                   "are refused with the valid names")
    ramp_up: int = Field(0, description="iterations of sigmoid ramp-up of the weight (0 = constant)")
    start: int = Field(0, ge=0, description="iteration at which the term switches on (weight 0 before; the ramp-up "
                       "starts there)")
    stop: int | None = Field(None, ge=1, description="iteration at which the term switches off for good (e.g. a "
                             "warm-start term); None = never")

    @model_validator(mode="after")
    def _stop_after_start(self) -> "TermConfig":
        if self.stop is not None and self.stop <= self.start:
            raise ValueError(f"term '{self.loss}': stop ({self.stop}) must come after start ({self.start})")
        return self


class MethodConfig(_Strict):
    name: str = Field("supervised", description="registered method (`cmrseg info`)")
    terms: list[TermConfig] | None = Field(None, description="override the method's default loss terms")
    params: dict[str, Any] = Field(default_factory=dict, description="the method's typed params (its Params "
                                   "model; `cmrseg config explain` lists them); unknown keys are refused")
    bn_streams: list[str] | None = Field(
        None, description="streams whose forwards update the BatchNorm running statistics (e.g. [synthetic]); "
        "the other streams' forwards normalise with their batch statistics but leave the running ones alone. "
        "None = every forward updates them")


class OptimConfig(_Strict):
    lr: float = Field(2e-3, gt=0, description="AdamW learning rate at the end of warm-up")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas (GANs: (0.5, 0.999))")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay")
    iterations: int = Field(6000, ge=1, description="optimisation steps")
    batch_size: int = Field(16, ge=1, description="patches per stream and step (per process under DDP)")
    warmup: int = Field(100, ge=0, description="iterations of linear LR warm-up")
    schedule: str = Field("poly", description="poly | cosine | constant")
    budget_minutes: float | None = Field(
        None, description="time-budgeted training: the schedule runs on elapsed time and training stops when "
        "the budget is spent (or at `iterations`, whichever comes first); exact reproducibility needs None")
    ema: float | None = Field(None, description="decay of an exponential moving average of the weights (e.g. 0.99): "
                              "the mean teacher of semi-supervised terms, validated, selected and saved for inference "
                              "unless ema_evaluate is false (cmrseg.engine.ema)")
    ema_evaluate: bool = Field(True, description="with optim.ema: validate, select and save the EMA weights (true) "
                               "or the trained weights, the EMA serving as teacher only (false)")


class AugmentConfig(_Strict):
    enabled: bool = Field(True, description="augment the training batches at all")
    spatial: SpatialAugConfig = Field(default_factory=SpatialAugConfig, description="geometric augmentation")
    intensity: IntensityAugConfig = Field(default_factory=IntensityAugConfig, description="intensity augmentation")


class TrainConfig(_Strict):
    name: str = Field("run", description="run folder name under out_dir")
    out_dir: str = Field("runs", description="folder of run folders")
    seed: int = Field(0, description="seed of the weights, patch sampling and augmentation")
    threads: int = Field(2, ge=1, description="CPU threads of torch (keep threads x concurrent runs <= cores)")
    val_every: int = Field(500, ge=1, description="iterations between validations (and checkpoints)")
    val_batch: int = Field(4, ge=1, description="slices per forward at validation")
    max_minutes: float | None = Field(None, description="stop early (safely, with a checkpoint) after this")
    progress: bool = Field(True, description="show a progress bar")
    init_from: str | None = Field(None, description="initialise the weights from this checkpoint (fine-tuning)")
    channels_last: bool = Field(True, description="NHWC memory format: ~1.2x faster CPU training (oneDNN)")
    device: str = Field("cpu", description="cpu, cuda, cuda:N, mps or auto (cmrseg.engine.device)")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: forward pass under bfloat16 autocast, losses and weights in float32 "
        "(~1.8x faster training steps on CPUs with avx512_bf16; cmrseg.engine.precision)")


class Config(_Strict):
    """A run: what data, which network, which method (terms over streams), how to optimise, augment and train."""

    data: DataConfig = Field(default_factory=DataConfig, description="dataset, label budget, streams")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the network")
    method: MethodConfig = Field(default_factory=MethodConfig, description="the method: loss terms over streams")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="optimiser and schedule")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="training augmentation")
    train: TrainConfig = Field(default_factory=TrainConfig, description="run name, seed, validation, devices")
