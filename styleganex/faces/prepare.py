"""The one face pre-processing every front end uses: photo -> StyleGANEX crop + aligned face.

>>> from styleganex.io.images import load_image
>>> prepared = prepare_face(load_image("photo.jpg"))   # photo [3, H, W] in 0..1
>>> prepared.crop.shape[1] % 8, prepared.crop.shape[2] % 8   # [3, h, w], the encoder's frame (gives f)
(0, 0)
>>> prepared.aligned.shape                             # the FFHQ-aligned face (gives w+)
torch.Size([3, 256, 256])
>>> prepared.record.frame_size                         # where the crop came from (paste-back)
(512, 512)

The library, the CLI (``invert``, ``demo``), the ComfyUI FaceCrop node and the video path all call
:func:`prepare_face`, so the same photo gives the same crop and aligned face everywhere.

The steps are the release's (``get_video_crop_parameter``, ``cv2.resize`` and ``align_face`` of the
official scripts), so the real weights see the faces they were trained on:

1. the face is detected on the photo (dlib HOG, upsample 1, 68 landmarks) and gives the crop
   parameters (eyes 64 px apart, 256 px around their midpoint, multiples of 8);
2. the photo is resized with plain bilinear, no antialiasing (``cv2.resize``, bit for bit on 8-bit
   photos) and cut;
3. the 68 landmarks are detected **again on the crop** (:func:`align_crop`) and the crop is aligned
   with those, with the release's FFHQ arithmetic (``Alignment.warp``, PIL's ``QUAD`` transform).
   Where the crop shows several faces, the release takes dlib's last detection; here the one nearest
   the photo's landmarks mapped into the crop. Where detection on the crop finds nothing near them,
   those mapped landmarks are used and ``landmarks_source`` says ``"mapped"``.

Without a face (``if_no_face="center"``) the crop is the centre of the photo (``center_crop``) and
the "aligned" face is that crop resized to 256 x 256, so w+ still comes from a 256 x 256 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..base.errors import InputError, NoFaceError
from ..io.images import check_image
from .align import align_face
from .crop_record import DEFAULT_PADDING, CropRecord, apply_crop, center_crop, crop_record
from .detect import FaceDetector, detect_face, redetect_face
from .face import Face

__all__ = ["IF_NO_FACE", "LANDMARK_SOURCES", "PreparedFace", "align_crop", "prepare_center", "prepare_face"]

LANDMARK_SOURCES = ("redetected", "mapped", "none")

IF_NO_FACE = ("error", "center")
"""What :func:`prepare_face` does when no face is found: raise ``NoFaceError``, or centre-crop."""

ALIGNED_SIZE = 256


@dataclass(eq=False)
class PreparedFace:
    """What the model needs from one photo.

    crop: ``[3, h, w]`` in 0..1, ``h`` and ``w`` multiples of 8.
    aligned: ``[3, 256, 256]`` in 0..1, the FFHQ-aligned face (or the resized centre crop).
    record: the crop's geometry in the photo.
    face: the face in photo coordinates, or ``None`` for a centre crop.
    landmarks: the ``(68, 2)`` landmarks in crop coordinates the alignment used, or ``None``.
    landmarks_source: ``"redetected"`` (found again on the crop, as the release does), ``"mapped"``
        (the photo's landmarks mapped into the crop) or ``"none"`` (centre crop).
    """

    crop: torch.Tensor
    aligned: torch.Tensor
    record: CropRecord
    face: Face | None
    landmarks: np.ndarray | None
    landmarks_source: str


def _resized_crop(crop: torch.Tensor) -> torch.Tensor:
    return F.interpolate(crop[None], size=(ALIGNED_SIZE, ALIGNED_SIZE), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp(0.0, 1.0)


def prepare_center(image: torch.Tensor, padding=DEFAULT_PADDING) -> PreparedFace:
    """The fallback without a face: the centre ``2 * padding`` box of ``image`` ``[3, H, W]`` (shrunk so
    its shorter side fits; sides multiples of 8) and, as its "aligned face", that crop resized to 256 x 256."""
    check_image(image, ndims=(3,))
    pad = padding if np.isscalar(padding) else max(padding)
    crop, record = center_crop(image, 2 * int(pad))
    return PreparedFace(crop, _resized_crop(crop), record, None, None, "none")


def align_crop(crop: torch.Tensor, expected: Face, *, detector: FaceDetector | None = None,
               redetect: bool = True, size: int = ALIGNED_SIZE) -> tuple[torch.Tensor, np.ndarray, str]:
    """The release's aligned face x̃ of a crop: landmarks detected again on ``crop``, FFHQ alignment.

    Args:
        crop: ``[3, h, w]`` in 0..1 (a StyleGANEX crop, or any image of the face).
        expected: the face in ``crop``'s coordinates with 68 landmarks (e.g. ``record.face_in_crop(face)``):
            it picks the detection to use, and is used itself when none is near it.
        detector: the detector run on the crop (default: dlib, as the release).
        redetect: False skips the detection and aligns with ``expected``'s landmarks.
        size: side of the aligned face (the release: 256).

    Returns:
        ``(aligned [3, size, size] in 0..1, landmarks (68, 2) in crop pixels, source)`` with source
        ``"redetected"`` or ``"mapped"`` (``expected``'s landmarks were used).
    """
    found = redetect_face(crop, expected, detector) if redetect else None
    used, source = (found, "redetected") if found is not None else (expected, "mapped")
    return align_face(crop, used, size), used.landmarks, source


def prepare_face(image: torch.Tensor, face: Face | None = None, *, detector: FaceDetector | None = None,
                 rule: str = "largest", index: int = 0, padding=DEFAULT_PADDING,
                 if_no_face: str = "error", redetect: bool = True) -> PreparedFace:
    """Crop and align the face of ``image`` ``[3, H, W]`` (0..1) as the release does.

    Args:
        image: the photo, ``[3, H, W]`` float in 0..1.
        face: the face to use (photo coordinates, with 68 landmarks); default: detected.
        detector, rule, index: how the face is found and chosen (see ``detect_face``).
        padding: crop padding around the eyes in rescaled pixels (see ``crop_record``).
        if_no_face: ``"error"`` raises ``NoFaceError``; ``"center"`` centre-crops instead.
        redetect: True (default, the release): the landmarks are detected again on the crop (also
            when ``face`` is given; ``face`` then picks which detection); False: ``face``'s landmarks
            mapped into the crop are used.

    Returns:
        A :class:`PreparedFace`.
    """
    check_image(image)
    if image.ndim != 3:
        raise InputError(f"prepare_face takes one image [3, H, W], got {tuple(image.shape)}")
    if if_no_face not in IF_NO_FACE:
        raise InputError(f"if_no_face must be one of {IF_NO_FACE}, got {if_no_face!r}")
    if face is None:
        try:
            face = detect_face(image, detector, rule=rule, index=index)
        except NoFaceError:
            if if_no_face == "error":
                raise
            return prepare_center(image, padding)
    record = crop_record(tuple(image.shape[-2:]), face, padding)
    crop = apply_crop(image, record)
    aligned, landmarks, source = align_crop(crop, record.face_in_crop(face), detector=detector, redetect=redetect)
    return PreparedFace(crop, aligned, record, face, landmarks, source)
