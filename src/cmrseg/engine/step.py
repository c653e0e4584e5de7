"""One training step's loss: the method's forward, the auxiliary networks' updates, and the single term loop.

Every method trains through :func:`training_loss`; no method sums its own terms. Per step:
1. ``method.forward`` gives the model's outputs per stream (BatchNorm stream handling in ``ctx.run``);
2. each term whose loss trains networks of its own (a discriminator) has them updated first, on detached
   outputs, by the engine (:func:`update_auxiliaries`);
3. each active term's value (BN statistics frozen for streams outside ``bn_streams``, as terms may run the
   model again) times its weight and schedule factor is summed.
"""

from __future__ import annotations

import torch

from cmrseg.device import module_device
from cmrseg.methods.base import Batches, Method, StepContext, call_loss, frozen_bn_statistics, term_scale


def update_auxiliaries(loss: object, outputs: dict, batch: dict, key: str, logs: dict[str, float]) -> None:
    """Step the optimiser of every network ``loss`` trains with the losses it returns for them."""
    own = getattr(loss, "auxiliary_losses", None)
    if own is None or not torch.is_grad_enabled():
        return
    networks = getattr(loss, "networks")
    for name, value in own(outputs, batch).items():
        logs[f"loss/{key}_{name}"] = networks[name].step(value)


def training_loss(method: Method, batches: Batches, ctx: StepContext) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted sum of the method's active terms for one step, and a log of each term's value."""
    outputs, batches = method.forward(batches, ctx)
    total = torch.zeros((), device=module_device(ctx.model))
    logs: dict[str, float] = {}
    for term, loss in zip(method.terms, method.losses):
        if term.stop is not None and ctx.iteration >= term.stop:
            continue  # switched off for good (e.g. a warm start): not even computed
        out, batch = outputs[term.stream], batches[term.stream]
        update_auxiliaries(loss, out, batch, term.loss, logs)
        with frozen_bn_statistics(ctx.model, ctx.bn_frozen(term.stream)):  # losses that run the model again
            value = call_loss(loss, out, batch, ctx.model)
        w = term.weight * term_scale(term, ctx.iteration)
        total = total + w * value
        logs[f"loss/{term.loss}@{term.stream}"] = float(value.detach())
    logs["loss/total"] = float(total.detach())
    return total, logs
