"""Per-case slice viewers for the HTML report: one pre-rendered PNG per slice and a range slider to pick it.

Each frame shows the slice cropped around the heart twice, prediction | ground truth (filled with contours,
RV blue, Myo green, LV red), upscaled by a small integer factor so that contours stay one thin line; every
viewer is shown at the same height and the browser shows one frame at a time (report.js). PNG keeps the
contours exact; a 20-volume ACDC run gives 210 frames, about 10 MB of page.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np

from cmrseg.errors import InputError
from cmrseg.labels import LV, MYO, RV, STRUCTURES
from cmrseg.metrics.overlap import dice, dice_per_structure
from cmrseg.report.markup import anchor, esc, fmt, img, note
from cmrseg.report.overlays import COLOURS, check_volumes, heart_box, heart_slices, overlay_rgb, window

#: Target height in pixels of one frame; the crop is upscaled by an integer factor (1-3) towards it.
FRAME_HEIGHT_PX = 240


def png_bytes(rgb: np.ndarray) -> bytes:
    """``rgb`` (uint8 ``(y, x, 3)``) encoded as PNG (lossless, so 1-pixel contours stay exact)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="png")
    return buf.getvalue()


def _hex(code: int) -> str:
    """CSS colour of a structure code (as drawn in the frames)."""
    return "#" + "".join(f"{round(255 * c):02x}" for c in COLOURS[code])


def _slice_dice(pred: np.ndarray, gt: np.ndarray) -> str:
    """Per-structure 2D Dice of one slice, for the structures present in either map (e.g. ``LV 0.95``)."""
    parts = [f"{name} {dice(pred == code, gt == code):.2f}" for code, name in STRUCTURES.items()
             if (pred == code).any() or (gt == code).any()]
    return "Dice " + ", ".join(parts) if parts else "no structure"


def render_frames(image: np.ndarray, pred: np.ndarray, gt: np.ndarray | None,
                  height_px: int = FRAME_HEIGHT_PX) -> tuple[list[np.ndarray], list[str]]:
    """One RGB frame per slice (prediction | ground truth, cropped to the heart) and a caption per slice.

    Args:
        image, pred, gt: ``(z, y, x)`` volumes of one shape (``gt`` may be ``None``: prediction only).
        height_px: height the frames are shown at; the crop is upscaled by ``ceil(height_px / crop height)``
            (1 to 3) so that the browser mostly shrinks them a little, which keeps 1-pixel contours visible.
    """
    image, pred, gt = check_volumes(image, pred, gt)
    ys, xs = heart_box(pred, gt)
    vmin, vmax = window(image[:, ys, xs])
    h = image[0, ys, xs].shape[0]
    k = int(np.clip(math.ceil(height_px / h), 1, 3))  # frames at least as tall as shown (the browser shrinks)
    up = lambda a: np.repeat(np.repeat(a, k, axis=0), k, axis=1)  # noqa: E731 - nearest: contours stay thin
    frames, captions = [], []
    n = image.shape[0]
    for z in range(n):
        tiles = [overlay_rgb(up(image[z, ys, xs]), up(lab[z, ys, xs]), alpha=0.3, vmin=vmin, vmax=vmax)
                 for lab in (pred, gt) if lab is not None]
        if len(tiles) == 2:
            gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
            tiles = [np.concatenate([tiles[0], gap, tiles[1]], axis=1)]
        frames.append(tiles[0])
        caption = f"slice {z + 1}/{n} (z={z})"
        captions.append(caption if gt is None else f"{caption}: {_slice_dice(pred[z], gt[z])}")
    return frames, captions


def viewer_html(case: dict, height_px: int = FRAME_HEIGHT_PX) -> str:
    """A slice viewer for one case dict (``case_id``, ``image``, ``pred``, ``gt`` or None, ``spacing`` or None).

    The slider starts on the mid-heart slice. Its element id is ``anchor("v", case_id)`` so that tables can
    link to it.
    """
    case_id = str(case.get("case_id", "case"))
    image, pred, gt = check_volumes(case["image"], case["pred"], case.get("gt"))
    frames, captions = render_frames(image, pred, gt, height_px)
    spacing = case.get("spacing")
    aspect = 1.0 if spacing is None else float(spacing[-1]) / float(spacing[-2])  # width/height of one pixel
    fh, fw = frames[0].shape[:2]
    width_px = int(round(height_px * fw / fh * aspect))  # every viewer is shown height_px high: an even grid
    picks = heart_slices(pred, n_slices=3, reference=gt)
    start = picks[len(picks) // 2][0]
    imgs = "".join(img(png_bytes(f), f"{case_id} slice {z}",
                       f' class="frame" data-z="{esc(c)}" width="{width_px}" height="{height_px}"'
                       + ("" if z == start else " hidden"))
                   for z, (f, c) in enumerate(zip(frames, captions)))
    if gt is not None:
        d = dice_per_structure(pred, gt)
        summary = "3D Dice " + ", ".join(f"{n} {fmt(d[n], 3)}" for n in STRUCTURES.values())
        label = "prediction | ground truth"
    else:
        summary, label = "no ground truth", "prediction"
    return (f'<div class="viewer" id="{anchor("v", case_id)}"><div class="vhead"><b>{esc(case_id)}</b> '
            f'<span class="note">{esc(label)}; {esc(summary)}</span></div>'
            f'<div class="frames">{imgs}</div>'
            f'<input type="range" min="0" max="{len(frames) - 1}" value="{start}" step="1" '
            f'aria-label="slice of {esc(case_id)}"><div class="z"></div></div>')


def viewers_html(cases: Iterable[dict]) -> tuple[str, list[str]]:
    """Viewers for ``cases`` (consumed one at a time; a bad or unreadable case, ``{"case_id", "error"}``, becomes
    a note) and the element ids of the viewers made."""
    out, ids = [], []
    for case in cases:
        case_id = str(case.get("case_id", "?"))
        if "error" in case:  # a case that could not be read (see cmrseg.report.cases)
            out.append(note(f"case {case_id}: no viewer ({case['error']})"))
            continue
        try:
            out.append(viewer_html(case))
            ids.append(anchor("v", case_id))
        except (InputError, KeyError, ValueError, TypeError) as exc:
            out.append(note(f"case {case_id}: no viewer ({exc})"))
    if not out:
        return "", ids
    legend = ('<p class="legend">' + " ".join(f'<span class="sw" style="background:{_hex(code)}"></span>'
                                              f"{STRUCTURES[code]}" for code in (RV, MYO, LV))
              + "; drag a slider (or focus it and use the arrow keys) to change the slice.</p>")
    return (legend if ids else "") + f'<div class="viewers">{"".join(out)}</div>', ids
