"""Paste-back: put a processed crop (any size, e.g. the model's 4x output) back into the original frame.

The output is resampled straight onto the frame's pixel grid with the crop's exact geometry (no
rounding to whole pixels, so nothing shifts), then blended in with a mask (alpha) computed on that
grid. :func:`paste_face` makes the mask and, optionally, matches the colours; :func:`paste_back`
is its short form (the crop's rectangle, no colour change).

The mask (:class:`PasteOptions`):

- ``shape="crop"``: the crop's rectangle, fading out over ``feather`` of the crop's shorter side at
  its inner sides (sides that end at the frame's edge are not faded: there is nothing to blend with);
- ``shape="face"``: the face: the convex hull of the 68 landmarks, raised over the forehead (or, from
  a face parser's labels, skin, brows, eyes, nose and mouth; without either, an ellipse in the crop);
- ``shape="head"``: the face with hair and ears (from the labels: also hair, ears and hat; from the
  landmarks, the hull enlarged by a third and raised);

shrunk by ``erode`` and faded over ``feather`` (both fractions of the crop's shorter side) towards
its border, so the fade lies inside the face and no dark or light halo of the generated
background shows around it. The rectangle's fade applies to every shape (a face near the crop's
edge still fades out).

Colour matching (``colour=True``): in a ring just inside the mask's border (where the fade lies,
and ``feather`` further in), the generated pixels' CIELAB mean and standard deviation per channel
are brought to the original's: ``lab' = (lab - mean_gen) * gain + mean_orig`` with ``gain =
(std_orig + 1) / (std_gen + 1)`` clamped to 0.5..2, applied to the whole pasted output
(:class:`ColourTransform`). An identity decode gets (nearly) the identity transform.

>>> from styleganex.faces import prepare_face
>>> from styleganex.io.images import load_image
>>> frame = load_image("photo.jpg")
>>> prepared = prepare_face(frame)
>>> output = torch.nn.functional.interpolate(prepared.crop[None], scale_factor=4)[0]  # a stand-in decode
>>> pasted = paste_face(frame, output, prepared.record, PasteOptions("face", colour=True),
...                     landmarks=prepared.landmarks)
>>> pasted.frame.shape, pasted.mask.shape               # the frame and where it was pasted
(torch.Size([3, 512, 512]), torch.Size([1, 512, 512]))
>>> bool(((pasted.frame - frame).abs()[:, pasted.mask[0] == 0] == 0).all())  # outside the mask: untouched
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb, rgb_to_lab

from ..base.errors import InputError
from ..io.images import check_image
from .crop_record import CropRecord
from .parsing.labels import NUM_CLASSES
from .resample import warp

__all__ = ["MASK_SHAPES", "ColourTransform", "PasteOptions", "Pasted", "check_labels", "face_polygon", "label_mask",
           "parse_for_paste", "paste_back", "paste_face", "polygon_depth"]

MASK_SHAPES = ("crop", "face", "head")
"""The mask that blends a crop in: its rectangle, the face, or the face with hair and ears."""

FACE_LABELS = (1, 2, 3, 4, 5, 6, 10, 11, 12, 13)
"""Face-parser classes of ``shape="face"``: skin, brows, eyes, glasses, nose, mouth, lips."""
HEAD_LABELS = FACE_LABELS + (7, 8, 9, 17, 18)
"""``shape="head"`` adds ears, earrings, hair and hat."""

FOREHEAD = 0.45
"""The face polygon adds the brow points moved up by this fraction of the brow-to-chin distance
(the forehead, up to about the hairline, which the 68 landmarks do not reach)."""
HEAD_GROWTH = 1.35
"""``shape="head"`` from landmarks: the face polygon scaled by this about a point a sixth of the
face height above its centre (hair and ears)."""

MIN_GAIN, MAX_GAIN = 0.5, 2.0


CROP_FEATHER = 0.1
"""Fade of the release's crop-rectangle paste, as a fraction of the crop's shorter side."""
FACE_FEATHER = 0.05
"""Default fade of the face and head masks (the Decode node and ``edit --frame``)."""


@dataclass(frozen=True)
class PasteOptions:
    """How a crop is blended into its frame (see the module docstring).

    shape: one of :data:`MASK_SHAPES`.
    feather: width of the fade, as a fraction of the crop's shorter side (0 = hard edge; 0..0.5).
    erode: how far the mask is shrunk before fading, same unit (0..0.5).
    colour: match the output's colours to the original in a ring inside the mask.
    """

    shape: str = "crop"
    feather: float = CROP_FEATHER
    erode: float = 0.0
    colour: bool = False

    def __post_init__(self):
        if self.shape not in MASK_SHAPES:
            raise InputError(f"mask shape must be one of {MASK_SHAPES}, got {self.shape!r}")
        for name in ("feather", "erode"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 0.5:
                raise InputError(f"{name} is a fraction of the crop size in 0..0.5, got {value!r}")


@dataclass(frozen=True)
class ColourTransform:
    """Per CIELAB channel ``lab * gain + offset`` (``gain``, ``offset``: 3 floats each)."""

    gain: tuple = (1.0, 1.0, 1.0)
    offset: tuple = (0.0, 0.0, 0.0)

    def blend(self, other: ColourTransform, weight: float) -> ColourTransform:
        """``weight * self + (1 - weight) * other`` (temporal smoothing)."""
        mix = lambda a, b: tuple(weight * x + (1.0 - weight) * y for x, y in zip(a, b))  # noqa: E731
        return ColourTransform(mix(self.gain, other.gain), mix(self.offset, other.offset))

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """The transform applied to ``image`` ``[3, H, W]`` (0..1 RGB)."""
        gain = torch.tensor(self.gain, dtype=image.dtype, device=image.device)[:, None, None]
        offset = torch.tensor(self.offset, dtype=image.dtype, device=image.device)[:, None, None]
        return lab_to_rgb(rgb_to_lab(image[None].clamp(0.0, 1.0)) * gain + offset)[0].clamp(0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Pasted:
    """What :func:`paste_face` returns: the new ``frame`` ``[3, H, W]``, the blending weights ``mask``
    ``[1, H, W]`` (0 where the frame is untouched), and the colour transform used (or None)."""

    frame: torch.Tensor
    mask: torch.Tensor
    colour: ColourTransform | None


# ---- the mask's shape ----------------------------------------------------------------------------
def face_polygon(landmarks, shape: str = "face") -> np.ndarray:
    """The convex polygon ``(N, 2)`` (counter-clockwise on screen, ``(x, y)``) of a face's mask from its
    68 landmarks (any coordinates): their hull with the forehead added (:data:`FOREHEAD`); for
    ``shape="head"`` enlarged by :data:`HEAD_GROWTH`."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise InputError(f"landmarks must be a finite (68, 2) array, got shape {points.shape}")
    brows = points[17:27]
    chin = points[8]
    up = brows.mean(axis=0) - chin
    forehead = brows + FOREHEAD * up
    cloud = np.vstack([points[:27], forehead])
    if shape == "head":
        centre = cloud.mean(axis=0) + up / 6.0
        cloud = centre + (cloud - centre) * HEAD_GROWTH
    return _hull(cloud)


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain), counter-clockwise on screen (y down)."""
    pts = sorted(map(tuple, np.round(points, 6)))
    if len(pts) < 3:
        raise InputError("a mask polygon needs at least three distinct points")

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def polygon_depth(polygon: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """How far each point ``(x, y)`` (broadcast grids) lies inside the convex ``polygon``: the distance
    to the nearest edge inside, minus the largest edge-line distance outside (negative)."""
    poly = torch.as_tensor(polygon, dtype=torch.float64)
    a, b = poly, torch.roll(poly, -1, dims=0)
    edge = b - a
    length = torch.linalg.norm(edge, dim=1).clamp_min(1e-9)
    # the hull runs one way round; the inward normal is the one pointing at the centroid
    normal = torch.stack([-edge[:, 1], edge[:, 0]], dim=1) / length[:, None]
    centre = poly.mean(dim=0)
    sign = torch.sign(((centre - a) * normal).sum(dim=1)).clamp_min(0) * 2 - 1
    normal = normal * sign[:, None]
    depth = None
    for k in range(poly.shape[0]):
        d = (x - a[k, 0]) * normal[k, 0] + (y - a[k, 1]) * normal[k, 1]
        depth = d if depth is None else torch.minimum(depth, d)
    return depth


def _ellipse_depth(crop_size, x: torch.Tensor, y: torch.Tensor, growth: float = 1.0) -> torch.Tensor:
    """Depth inside an ellipse over the middle of a crop without landmarks (half axes 0.2 w and
    0.26 h, times ``growth``: the face of a StyleGANEX crop, whose eyes lie at its centre)."""
    h, w = crop_size
    cx, cy, ax, ay = (w - 1) / 2.0, (h - 1) / 2.0 + 0.05 * h, 0.2 * w * growth, 0.26 * h * growth
    r = torch.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    return (1.0 - r) * min(ax, ay)


def check_labels(labels, name: str = "labels") -> torch.Tensor:
    """Face-parser labels as a tensor, checked: ``[h, w]`` or ``[K, h, w]`` (sides >= 1) of class ids
    0..``NUM_CLASSES - 1`` (integers, or floats holding whole numbers). A ``MASK`` of class id / 255 (what
    Face Parse's ``labels`` output holds) and NaN are refused with a message naming ``name``."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(np.ascontiguousarray(labels))
    if not isinstance(labels, torch.Tensor):
        raise InputError(f"{name} must be a tensor of class ids [h, w] or [K, h, w], got {type(labels).__name__}")
    if labels.ndim not in (2, 3) or min(labels.shape) < 1:
        raise InputError(f"{name} must be class ids [h, w] or [K, h, w] with sides of 1 pixel or more, got shape "
                         f"{list(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise InputError(f"{name} must hold class ids 0..{NUM_CLASSES - 1}, got a {labels.dtype} tensor")
    if labels.is_floating_point():
        if not torch.isfinite(labels).all():
            raise InputError(f"{name} contain NaN or infinite values; expected class ids 0..{NUM_CLASSES - 1}")
        if not torch.equal(labels, labels.round()):
            hint = (" (they look like Face Parse's labels MASK, class id / 255: multiply by 255)"
                    if float(labels.min()) >= 0 and float(labels.max()) <= (NUM_CLASSES - 1) / 255 + 1e-6 else "")
            raise InputError(f"{name} hold fractions; expected whole class ids 0..{NUM_CLASSES - 1}{hint}")
    low, high = float(labels.min()), float(labels.max())
    if low < 0 or high > NUM_CLASSES - 1:
        raise InputError(f"{name} hold values {low:g}..{high:g}; expected class ids 0..{NUM_CLASSES - 1}")
    return labels


def label_mask(labels: torch.Tensor, shape: str = "face") -> torch.Tensor:
    """Where a face parser's labels (``[h, w]`` or ``[K, h, w]`` class ids, several maps are
    united) show the face (``shape="face"``, :data:`FACE_LABELS`) or the head (:data:`HEAD_LABELS`);
    ``[h, w]`` float 0/1."""
    if shape not in ("face", "head"):
        raise InputError(f"a label mask is 'face' or 'head', got {shape!r}")
    labels = check_labels(labels)
    wanted = torch.tensor(FACE_LABELS if shape == "face" else HEAD_LABELS, device=labels.device)
    inside = torch.isin(labels.long(), wanted)
    return (inside.any(dim=0) if inside.ndim == 3 else inside).float()


def parse_for_paste(parser, crops01: torch.Tensor, outputs01: torch.Tensor) -> torch.Tensor:
    """Face-parser labels of the original crops and of the outputs, for the ``labels`` of
    :func:`paste_face` (the mask then covers the face in either, so no edge of the old face shows).

    parser: a :class:`~styleganex.faces.parsing.FaceParser`.
    crops01: ``[B, 3, h, w]`` the crops (``CropInfo.recut()``); outputs01: ``[B, 3, H, W]`` the results.
    Returns ``[B, 2, h, w]`` class ids (outputs resized to the crops' size first; the network runs at 512).
    """
    check_image(crops01, "crops", ndims=(4,))
    check_image(outputs01, "outputs", ndims=(4,))
    if crops01.shape[0] != outputs01.shape[0]:
        raise InputError(f"{crops01.shape[0]} crops but {outputs01.shape[0]} outputs")
    out = []
    for b in range(crops01.shape[0]):
        small = F.interpolate(outputs01[b:b + 1].float(), size=tuple(crops01.shape[-2:]), mode="bilinear",
                              antialias=True, align_corners=False).clamp(0.0, 1.0)
        pair = torch.cat([crops01[b:b + 1].float(), small])
        out.append(parser.parse(pair, size=512).cpu())
    return torch.stack(out)


def _soft_from_binary(binary: torch.Tensor, erode_px: float, feather_px: float) -> torch.Tensor:
    """A 0/1 mask ``[h, w]`` shrunk by ``erode_px`` and faded over ``feather_px`` towards its border
    (pixels of the mask's own grid)."""
    x = binary[None, None].float()
    shrink = erode_px + feather_px / 2.0
    r = int(round(shrink))
    if r > 0:  # erosion: the minimum over a (2r+1) square
        x = -F.max_pool2d(-F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)
    k = int(round(feather_px))
    if k > 0:  # a box blur of the fade's width, twice (a smooth ramp)
        for _ in range(2):
            half = k // 2
            x = F.avg_pool2d(F.pad(x, (half, k - 1 - half, half, k - 1 - half), mode="replicate"), k, stride=1)
    return x[0, 0].clamp(0.0, 1.0)


# ---- pasting -------------------------------------------------------------------------------------
def paste_back(frame: torch.Tensor, output: torch.Tensor, record: CropRecord, feather: float = CROP_FEATHER,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Composite ``output`` into ``frame`` where ``record``'s crop came from; returns a new frame.

    The crop's rectangle, faded over ``feather``, no colour change: :func:`paste_face` with
    ``PasteOptions("crop", feather)``; see there for the arguments. Frame pixels whose centres lie
    outside the crop's footprint are returned unchanged.
    """
    return paste_face(frame, output, record, PasteOptions("crop", feather), mask=mask).frame


def paste_face(frame: torch.Tensor, output: torch.Tensor, record: CropRecord, options: PasteOptions | None = None,
               *, landmarks=None, labels: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               colour: ColourTransform | None = None, onto: torch.Tensor | None = None,
               canvas: tuple[int, int] | None = None,
               smooth_colour: Callable[[ColourTransform | None], ColourTransform | None] | None = None) -> Pasted:
    """Blend ``output`` into ``frame`` where ``record``'s crop came from.

    Args:
        frame: ``[3, H, W]`` in 0..1, ``(H, W) == record.frame_size``: the original.
        output: ``[3, oh, ow]`` in 0..1 showing the crop (or ``canvas``) at any size (4x for the model).
        record: where the crop came from.
        options: the mask and colour options (default: ``PasteOptions()``, the feathered rectangle).
        landmarks: the face's ``(68, 2)`` landmarks in crop pixels, for ``shape="face"``/``"head"``.
        labels: face-parser class ids ``[h, w]`` or ``[K, h, w]`` showing the crop (any size; several
            maps are united), for ``"face"``/``"head"``; they take precedence over ``landmarks``.
        mask: extra weights ``[oh, ow]`` or ``[1, oh, ow]`` in 0..1 at the output's size, multiplied in.
        colour: a colour transform to use instead of measuring one (e.g. smoothed over video frames);
            with ``options.colour`` False and no ``colour`` the colours are left alone.
        onto: the frame to composite onto (default ``frame``; e.g. with other faces already pasted);
            colours are always matched to ``frame``.
        canvas: ``(h, w)`` when ``output`` shows the crop padded at the bottom/right to this size.
        smooth_colour: called with the measured colour transform (``options.colour``), returns the one
            to apply (e.g. blended with the previous frames').

    Returns:
        :class:`Pasted`. Frame pixels where the mask is 0 are returned unchanged (bit for bit).
    """
    options = options or PasteOptions()
    check_image(frame, "frame")
    check_image(output, "output")
    if labels is not None:
        labels = check_labels(labels)
    if frame.ndim != 3 or output.ndim != 3:
        raise InputError("paste_back takes one frame [3, H, W] and one output [3, h, w]")
    if tuple(frame.shape[-2:]) != tuple(record.frame_size):
        raise InputError(f"frame is {tuple(frame.shape[-2:])} but the crop record is for {record.frame_size}")
    if onto is not None and onto.shape != frame.shape:
        raise InputError(f"onto is {tuple(onto.shape)}, the frame {tuple(frame.shape)}")
    crop_h, crop_w = record.crop_size
    shown_h, shown_w = canvas if canvas is not None else (crop_h, crop_w)
    if shown_h < crop_h or shown_w < crop_w:
        raise InputError(f"the canvas {canvas} is smaller than the crop {record.crop_size}")
    if labels is not None:
        lh, lw = labels.shape[-2:]
        if abs(lh - lw * shown_h / shown_w) > max(1.0, 0.02 * lh):
            raise InputError(f"labels are {lw}x{lh} but the output shows a {shown_w}x{shown_h} crop: they do not "
                             "show this crop (parse the crop, or the output, itself)")

    sx, sy = record.scale_xy
    x0, y0, x1, y1 = record.box
    out_h, out_w = output.shape[-2:]
    kx, ky = out_w / shown_w, out_h / shown_h
    k = max(kx, ky)  # the output seen at the crop's scale may differ by the padding to multiples of 8 (+1 %)
    if abs(out_w / k - shown_w) > 8 + 0.01 * shown_w or abs(out_h / k - shown_h) > 8 + 0.01 * shown_h:
        raise InputError(f"the output is {out_w}x{out_h} but the crop record's box is {shown_w}x{shown_h}: they do not "
                         "have the same shape, so the record is not the one this output was made from")
    height, width = record.frame_size
    base = frame if onto is None else onto
    empty = torch.zeros((1, height, width), dtype=frame.dtype, device=frame.device)
    # frame pixels whose centres fall inside the crop's footprint [x0 / sx, x1 / sx) x [y0 / sy, y1 / sy)
    rx0, rx1 = (min(max(math.ceil(e - 0.5), 0), width) for e in (x0 / sx, x1 / sx))
    ry0, ry1 = (min(max(math.ceil(e - 0.5), 0), height) for e in (y0 / sy, y1 / sy))
    if rx1 <= rx0 or ry1 <= ry0:
        return Pasted(base.clone(), empty, None)

    # region pixel (X, Y) -> output pixel (u, v); warp wants the opposite direction
    region_to_output = np.array([[sx * kx, 0.0, ((rx0 + 0.5) * sx - x0) * kx - 0.5],
                                 [0.0, sy * ky, ((ry0 + 0.5) * sy - y0) * ky - 0.5],
                                 [0.0, 0.0, 1.0]])
    output_to_region = np.linalg.inv(region_to_output)
    region_size = (ry1 - ry0, rx1 - rx0)
    pasted = warp(output, output_to_region, region_size)

    # crop coordinates (pixel-edge convention) of every region pixel centre
    u = (torch.arange(rx0, rx1, dtype=torch.float64) + 0.5) * sx - x0
    v = (torch.arange(ry0, ry1, dtype=torch.float64) + 0.5) * sy - y0
    side = min(crop_h, crop_w)
    alpha = _alpha(options, record, u, v, side, landmarks, labels, output_to_region, region_size,
                   (shown_h, shown_w), (out_h, out_w), options.erode)
    if mask is not None:
        alpha = alpha * _checked_mask(mask, out_h, out_w, output_to_region, region_size)
    alpha = alpha.to(frame.dtype)[None]

    region = frame[:, ry0:ry1, rx0:rx1]
    if colour is None and options.colour:
        ring_width = max(options.feather, 4.0 / side)
        inner = _alpha(options, record, u, v, side, landmarks, labels, output_to_region, region_size,
                       (shown_h, shown_w), (out_h, out_w), options.erode + ring_width).to(frame.dtype)[None]
        ring = (alpha > 0.05) & (inner < 0.95)
        colour = _measure_colour(region, pasted, ring[0])
        if smooth_colour is not None:
            colour = smooth_colour(colour)
    if colour is not None:
        pasted = colour.apply(pasted)

    result = base.clone()
    target = result[:, ry0:ry1, rx0:rx1]
    result[:, ry0:ry1, rx0:rx1] = torch.where(alpha > 0, (target + (pasted - target) * alpha).clamp(0.0, 1.0),
                                              target)
    full = empty.clone()
    full[:, ry0:ry1, rx0:rx1] = alpha
    return Pasted(result, full, colour)


def _checked_mask(mask, out_h, out_w, output_to_region, region_size) -> torch.Tensor:
    mask = check_image(mask if mask.ndim == 3 else mask[None], "mask", channels=1, ndims=(3,)).float()
    if tuple(mask.shape) != (1, out_h, out_w):
        raise InputError(f"mask must be [{out_h}, {out_w}] or [1, {out_h}, {out_w}], got {tuple(mask.shape)}")
    return warp(mask, output_to_region, region_size)[0].clamp(0.0, 1.0).double()


def _alpha(options: PasteOptions, record: CropRecord, u, v, side, landmarks, labels, output_to_region,
           region_size, shown, out_size, erode) -> torch.Tensor:
    """The blending weights ``[rh, rw]`` (float64) on the region grid."""
    ramp = options.feather * side
    erode_px = erode * side
    crop_h, crop_w = record.crop_size
    at_left, at_top, at_right, at_bottom = record.edges_at_frame_border()
    inf_u, inf_v = torch.full_like(u, float("inf")), torch.full_like(v, float("inf"))
    depth_x = torch.minimum(inf_u if at_left else u, inf_u if at_right else crop_w - u)
    depth_y = torch.minimum(inf_v if at_top else v, inf_v if at_bottom else crop_h - v)
    if options.shape == "crop":
        return _ramp(depth_y, erode_px, ramp)[:, None] * _ramp(depth_x, erode_px, ramp)[None, :]
    weight = _ramp(depth_y, 0.0, ramp)[:, None] * _ramp(depth_x, 0.0, ramp)[None, :]  # the crop's edge still fades
    if labels is not None:
        binary = label_mask(labels, options.shape)
        lh, lw = binary.shape
        scale = lw / shown[1]  # label pixels per crop pixel
        soft = _soft_from_binary(binary, erode_px * scale, ramp * scale)
        # labels show the crop (or canvas) like the output does, at their own size
        to_labels = np.diag([lw / out_size[1], lh / out_size[0], 1.0]) @ np.linalg.inv(output_to_region)
        to_labels[:2, 2] += [0.5 * lw / out_size[1] - 0.5, 0.5 * lh / out_size[0] - 0.5]
        return weight * warp(soft[None, None], np.linalg.inv(to_labels), region_size, "zeros")[0, 0].double()
    yy, xx = (v - 0.5)[:, None], (u - 0.5)[None, :]  # pixel-centre crop coordinates
    if landmarks is not None:
        depth = polygon_depth(face_polygon(landmarks, options.shape), xx, yy)
    else:
        depth = _ellipse_depth((crop_h, crop_w), xx, yy, HEAD_GROWTH if options.shape == "head" else 1.0)
    return weight * _ramp(depth, erode_px, ramp)


def _ramp(depth: torch.Tensor, erode_px: float, ramp: float) -> torch.Tensor:
    """0 up to ``erode_px`` inside the border, rising linearly to 1 over ``ramp`` further in."""
    inside = depth - erode_px
    if ramp <= 0:
        return (inside > 0).double()
    return (inside / ramp).clamp(0.0, 1.0).double()


def _measure_colour(original: torch.Tensor, generated: torch.Tensor, ring: torch.Tensor) -> ColourTransform | None:
    """The CIELAB mean/std match of ``generated`` to ``original`` over ``ring`` (None with too few pixels)."""
    if int(ring.sum()) < 16:
        return None
    lab_o = rgb_to_lab(original[None].clamp(0, 1))[0][:, ring].double()
    lab_g = rgb_to_lab(generated[None].clamp(0, 1))[0][:, ring].double()
    mean_o, mean_g = lab_o.mean(dim=1), lab_g.mean(dim=1)
    gain = ((lab_o.std(dim=1) + 1.0) / (lab_g.std(dim=1) + 1.0)).clamp(MIN_GAIN, MAX_GAIN)
    offset = mean_o - mean_g * gain
    return ColourTransform(tuple(float(g) for g in gain), tuple(float(o) for o in offset))
