"""Video facial attribute editing and video toonification, frame by frame in bounded memory.

>>> from styleganex.dev.testing import random_model
>>> frames = torch.rand(3, 3, 64, 80)                 # a video: [T, 3, H, W] (or an iterable of [3, H, W]) in 0..1
>>> outputs = process_video(random_model("edit_age"), frames, editing_scale=1.0, crop="none",
...                         aligned=torch.rand(3, 256, 256))   # crop "first" (default) finds the face instead
>>> [tuple(out.frame.shape) for out in outputs]      # lazily, in order: [3, 4H, 4W] in 0..1, and a mask
[(3, 256, 320), (3, 256, 320), (3, 256, 320)]

As the official ``video_editing.py``: the crop parameters and the aligned face x̃ come from the first
frame (x̃: the landmarks detected again on its crop, ``faces.align_crop``); every frame is cropped with
those parameters (``cv2.resize``'s plain bilinear, ``faces.apply_crop``), encoded for f and the fusion skip
features, and decoded with w+ = E(x̃) + latent_avg, zero noise and ``editing_w[0] x scale`` (edit models).
There is no temporal smoothing.

Different from the official loop, which runs the whole ``pSp.forward`` on every frame: x̃ is encoded
once and its w+ reused (the official per-frame result is the same, since x̃ never changes); frames go
through ``model.encode_features`` only (the encoder body up to the last H/8 tap, no style heads);
frames are processed in chunks of ``chunk_size``, so memory does not grow with the video length.

Options beyond the release: ``crop="track"`` moves a fixed-size crop with the face
(``faces.VideoCropper(track=True)``); ``paste_back=True`` blends every output back into its full frame.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, NamedTuple

import torch

from ..base.errors import Cancelled, InputError, check_cancel
from ..base.validation import SIGNED, check_finite, check_image, check_strength
from ..model.latent import Latent
from ..model.network import StyleGANEX
from ..model.padding import make_size_valid

__all__ = ["process_video", "VideoRenderer", "editing_vector"]

CROP_MODES = ("first", "track", "none")


def editing_vector(model: StyleGANEX, editing_scale) -> torch.Tensor | None:
    """``editing_w[0:1] * scale`` of an edit model (as ``video_editing.py``), or None for no scale.

    A negative scale edits the other way. Raises ``ValueError`` for a scale on a model without an
    editing vector (toonify / inversion models)."""
    if editing_scale is None:
        return None
    editing_scale = check_strength(editing_scale, "editing_scale")
    if getattr(model, "editing_w", None) is None:
        raise InputError(f"this {getattr(model, 'variant', 'custom')} model has no editing vector "
                         "(editing_w): an editing scale needs the edit_age or edit_hair model; leave "
                         "the scale out for toonify models")
    return model.editing_w[0:1] * float(editing_scale)


class VideoRenderer:
    """The per-frame computation of the video path: w+ of the aligned face encoded once, then
    ``render(crops)`` for any number of crops [n, 3, h, w] in [-1, 1] (h, w multiples of 8):
    f and skip features from ``model.encode_features``, zero noise, ``editing_w`` added.
    Returns the raw decoder output [n, 3, ...] (not clamped)."""

    def __init__(self, model: StyleGANEX, aligned: torch.Tensor, editing_w: torch.Tensor | None = None):
        if model.config.input_nc != 3:
            raise InputError(f"video editing needs a model with RGB input, got the "
                             f"{getattr(model, 'variant', 'custom')} model ({model.config.input_nc}-channel input)")
        check_image(aligned, "aligned", channels=3, value_range=SIGNED, ndims=(4,))
        if aligned.shape[0] != 1:
            raise InputError(f"aligned must be one face [1, 3, h, w], got {tuple(aligned.shape)}")
        self.model = model
        device, dtype = model.device, model.dtype
        with torch.no_grad():
            codes = model.encoder.codes(aligned.to(device, dtype))
            self.wplus = model.add_latent_avg(codes)
        self.editing_w = None if editing_w is None else model.resolve_editing_w(editing_w.to(device, dtype), 1)

    @torch.no_grad()
    def render(self, crops: torch.Tensor) -> torch.Tensor:
        feats = self.model.encode_features(crops)
        n = crops.shape[0]
        latent = Latent(wplus=self.wplus.expand(n, -1, -1), f=feats.f,
                        skips=list(feats.skips) if self.model.has_fusion else None)
        ew = None if self.editing_w is None else self.editing_w.expand(n, -1, -1)
        return self.model.decode(latent, noise="zero", editing_w=ew)


class _FirstFace:
    """A detector that answers the first call with a given face, later calls with ``detector``."""

    def __init__(self, face, detector):
        self.face, self.detector, self.used = face, detector, False

    def detect(self, image):
        if not self.used:
            self.used = True
            return [self.face]
        if self.detector is None:
            from ..faces import default_detector
            self.detector = default_detector()
        return self.detector.detect(image)


def _with_frame_index(exc: BaseException, index: int, last: int | None = None) -> BaseException:
    where = f"frame {index}" if last is None or last == index else f"frames {index}-{last}"
    msg = f"{where}: {exc}"
    try:
        new = type(exc)(msg)
    except Exception:  # noqa: BLE001 - exception types with other constructors
        new = RuntimeError(msg)
    try:
        new.frame_index = index
    except AttributeError:
        pass
    return new


def _check_frame(frame, size) -> torch.Tensor:
    check_image(frame, "the frame", ndims=(3,))
    if size is not None and tuple(frame.shape[-2:]) != tuple(size):
        raise InputError(f"size {tuple(frame.shape[-2:])} differs from frame 0, {tuple(size)}; "
                         "all frames of a video must have the same size")
    return frame.clamp(0, 1)


def _crop_mode(crop):
    if crop is None or crop is True:
        return "first", None
    if crop is False:
        return "none", None
    if isinstance(crop, str):
        if crop not in CROP_MODES:
            raise InputError(f"crop must be one of {CROP_MODES}, a faces.CropRecord, or None, got {crop!r}")
        return crop, None
    from ..faces import CropRecord
    if isinstance(crop, CropRecord):
        return "record", crop
    if isinstance(crop, dict):
        return "record", CropRecord.from_dict(crop)
    raise InputError(f"crop must be one of {CROP_MODES}, a faces.CropRecord, or None, got {type(crop).__name__}")


def process_video(model: StyleGANEX, frames: torch.Tensor | Iterable[torch.Tensor], editing_scale: float | None = None,
                  crop=None, chunk_size: int = 8, paste_back: bool = False,
                  progress: Callable | None = None, cancel: Callable | None = None, *,
                  face=None, aligned: torch.Tensor | None = None, detector=None, total: int | None = None,
                  feather: float = 0.1, padding=None, faces=None, state=None, paste=None,
                  smoothing: float = 0.8, max_missing: int = 30) -> Iterator[VideoFrame]:
    """Edit or toonify a video; yields a :class:`VideoFrame` (``frame`` [3, H', W'] in 0..1 and ``mask``
    [1, H', W'], where the frame was changed) for every input frame, in order, lazily.

    model: an edit model (``editing_scale`` times its ``editing_w`` is added; negative scales edit the
        other way) or a toonify model (no scale); any RGB StyleGANEX model works (no scale: reconstruction).
    frames: a tensor [T, 3, H, W] or an iterable of [3, H, W], float in 0..1.
    crop: None / "first" (default, official): the face of the first frame gives the crop used for every
        frame; "track": a crop of the first frame's size that follows the face (``faces.VideoCropper``);
        "none": frames are used whole (padded to multiples of 8; x̃ still from the first frame's face);
        or an explicit ``faces.CropRecord`` (or its dict) for every frame.
    face: the face of the first frame (``faces.Face`` or (68, 2) landmarks, frame pixels) instead of
        running ``detector`` (default: dlib) on it. aligned: x̃ itself, [3, h, w] or [1, 3, h, w] in 0..1.
    padding: the crop's padding around the eyes, ``(left, right, top, bottom)`` or one number of
        rescaled pixels (default: the release's 256 on every side; see ``faces.crop_record``).
    chunk_size: frames encoded/decoded together; memory is bounded by it, not by the video length.
    paste_back: blend each output into its full frame (output = frame size); needs a crop.
    progress(done, total, info) after each output frame (total None when unknown), cancel() checked
        before each frame: True raises ``errors.Cancelled``.
    Output size: 4x the crop at 1024 (the frame size with ``paste_back``).
    Errors: no face in the first frame -> ``faces.NoFaceError``; a failure while reading or computing
    frame i is re-raised (same type where possible) with "frame i" in the message and ``frame_index``.

    Every face, tracked (``faces``, ``state`` or ``paste`` given; needs ``paste_back`` and crop "first"
    or "track"): ``faces.FaceTracker`` follows each chosen person (a ``faces.FaceSelection`` or its
    text: "largest", "all", "0,2" = numbers of the first frame's index map) with its own crop
    (fixed, or following the face with "track") and its own x̃; every person is rendered and pasted
    into the frame with ``paste`` (``faces.PasteOptions``: mask shape, erosion, feather, colour
    matching; default: the rectangle faded by ``feather``). Masks and colour transforms are smoothed
    over time (``smoothing``), people without a detection in a frame are carried over for up to
    ``max_missing`` frames, and frames before the first face pass through unchanged (no error: the
    caller checks ``state.tracks``). ``state`` (a ``faces.VideoState``, updated in place) carries all
    of it into the next chunk of a long video. ``with_masks``: yield ``(frame, mask [1, H, W])``, the
    mask showing where the frame was pasted (0 = untouched).
    """
    mode, record = _crop_mode(crop)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if model.config.input_nc != 3:
        raise InputError(f"process_video needs an RGB model (edit or toonify), got the "
                         f"{getattr(model, 'variant', 'custom')} model ({model.config.input_nc}-channel input)")
    if paste_back and mode == "none":
        raise InputError("paste_back needs a crop: with crop='none' the output already covers the whole frame")
    editing_w = editing_vector(model, editing_scale)
    if total is None and hasattr(frames, "__len__"):
        total = len(frames)
    if isinstance(frames, torch.Tensor) and frames.ndim != 4:
        raise InputError(f"frames must be [T, 3, H, W] or an iterable of [3, H, W], got {tuple(frames.shape)}")
    if faces is not None or state is not None or paste is not None:
        tracker, options = _tracked_setup(mode, paste_back, face, aligned, detector, padding, faces, state, paste,
                                          feather, smoothing, max_missing)
        it = iter(frames)
        fresh = tracker.state.frames_seen == 0
        pairs = _tracked_frames_out(model, it, editing_w, tracker, options, chunk_size, progress, cancel, total)
        return _closing(_no_face_rule(pairs, tracker.state, fresh), it)
    it = iter(frames)
    out = _frames_out(model, it, editing_w, mode, record, chunk_size, paste_back, progress, cancel, face, aligned,
                      detector, total, feather, padding)
    return _closing((VideoFrame(f, torch.ones(1, *f.shape[-2:], dtype=f.dtype, device=f.device)) for f in out), it)


class VideoFrame(NamedTuple):
    """One output frame of :func:`process_video`."""

    frame: torch.Tensor
    """[3, H, W] in 0..1."""
    mask: torch.Tensor
    """[1, H, W] in 0..1: where the frame is the model's output (1) and where it is untouched (0)."""


def _no_face_rule(pairs: Iterator, state, fresh: bool) -> Iterator[VideoFrame]:
    """The frames of a tracked run; then, for a run that began the state, an error if no face was usable."""
    from ..faces import NoFaceError

    for frame, mask in pairs:
        yield VideoFrame(frame, mask)
    if fresh and state.problem():
        raise NoFaceError(f"{state.problem()}: use frames with a clearly visible frontal face, other faces "
                          "settings, or crop 'none'")


_PASS = (Cancelled, KeyboardInterrupt, GeneratorExit)


def _closing(frames: Iterator, it) -> Iterator:
    """``frames``, then (also on an error or an early stop) close the input ``it`` if it can be closed,
    e.g. release the video file of ``read_video_frames``."""
    try:
        yield from frames
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _read_frame(it, index: int, size, cancel):
    """The next frame of ``it`` checked (None at the end); errors name frame ``index``."""
    check_cancel(cancel)
    try:
        frame = next(it)
    except StopIteration:
        return None
    except _PASS:
        raise
    except Exception as e:
        raise _with_frame_index(e, index) from e
    try:
        return _check_frame(frame, size)
    except Exception as e:
        raise _with_frame_index(e, index) from e


def _render(renderer: VideoRenderer, crops: list, indices: list) -> torch.Tensor:
    """``renderer`` on the crops [3, h, w] (0..1) of frames ``indices``; [n, 3, 4h, 4w] in 0..1.
    A failure names the frame that fails on its own."""
    padded, size_record = make_size_valid(torch.stack(crops) * 2 - 1, 8, "pad")
    try:
        out = renderer.render(padded)
    except _PASS:
        raise
    except Exception as e:
        if len(crops) > 1:  # find the frame that fails on its own
            for k in range(len(crops)):
                try:
                    renderer.render(padded[k:k + 1])
                except _PASS:
                    raise
                except Exception as e2:  # noqa: BLE001
                    raise _with_frame_index(e2, indices[k]) from e2
        raise _with_frame_index(e, indices[0], indices[-1]) from e
    where = f"frame {indices[0]}" if len(indices) == 1 else f"frames {indices[0]}-{indices[-1]}"
    check_finite(out, f"decoding video {where}")
    out = size_record.undo(out.clamp(-1, 1))
    return ((out + 1) / 2).clamp(0, 1)


def _frames_out(model, it, editing_w, mode, record, chunk_size, paste_back, progress, cancel, face, aligned,
                detector, total, feather, padding) -> Iterator[torch.Tensor]:
    fc = None
    if mode != "none" or aligned is None or face is not None:  # the face front end, only when needed
        from .. import faces as fc
    if padding is None and fc is not None:
        padding = fc.DEFAULT_PADDING

    index = 0  # index of the next frame to read

    def next_frame(size):
        return _read_frame(it, index, size, cancel)

    first = next_frame(None)
    if first is None:
        raise InputError("no frames to process: the video holds none (or none were read)")
    size = tuple(first.shape[-2:])
    if face is not None and not isinstance(face, fc.Face):
        face = fc.Face.from_landmarks(face)

    # the crop and the face of the first frame
    cropper, first_face = None, face
    if mode == "first" and face is not None:
        record = fc.crop_record(size, face, padding)
    elif mode in ("first", "track"):
        det = detector if face is None else _FirstFace(face, detector)
        cropper = fc.VideoCropper(det, padding=padding, track=(mode == "track"))
        try:
            _, record = cropper(first)
        except fc.NoFaceError as e:
            raise fc.NoFaceError(f"{e}. The first frame gives the crop for the whole video: trim the video to "
                                 "start on a visible face, or set crop to 'none'.") from e
        first_face = cropper.first_face
        if mode == "first":
            cropper = None  # the official fixed crop: apply_crop with the first frame's record
    elif aligned is None and first_face is None:
        first_face = fc.detect_face(first, detector)

    # x̃: the FFHQ alignment of the first frame's crop with landmarks detected again on it (official),
    # encoded once
    if aligned is None:
        if mode == "none":
            x_tilde = fc.align_face(first, first_face)
        else:
            x_tilde, _, _ = fc.align_crop(fc.apply_crop(first, record), record.face_in_crop(first_face),
                                          detector=detector)
    else:
        if aligned.ndim == 4 and aligned.shape[0] != 1:
            raise InputError(f"aligned must be one face [3, h, w] or [1, 3, h, w], got {tuple(aligned.shape)}")
        x_tilde = aligned if aligned.ndim == 3 else aligned[0]
        check_image(x_tilde[None], "aligned", channels=3, value_range=(0.0, 1.0), ndims=(4,))
    renderer = VideoRenderer(model, x_tilde[None] * 2 - 1, editing_w)

    def crop_frame(frame):
        if mode == "none":
            return frame, None
        if cropper is not None:
            out, rec = cropper(frame)
            return out, rec
        return fc.apply_crop(frame, record), record

    done, frame = 0, first
    while frame is not None:
        start, crops, fulls, records = index, [], [], []
        while frame is not None and len(crops) < chunk_size:
            try:
                c, rec = crop_frame(frame)
            except _PASS:
                raise
            except Exception as e:
                raise _with_frame_index(e, index) from e
            crops.append(c)
            records.append(rec)
            fulls.append(frame if paste_back else None)
            index += 1
            frame = next_frame(size)
        outs = _render(renderer, crops, list(range(start, start + len(crops))))
        for k in range(outs.shape[0]):
            full = fulls[k]
            if paste_back:
                try:
                    out = fc.paste_back(full, outs[k].to(full.device, full.dtype), records[k], feather)
                except _PASS:
                    raise
                except Exception as e:
                    raise _with_frame_index(e, start + k) from e
            else:
                out = outs[k].to(crops[k].device).clone()
            fulls[k] = None
            done += 1
            if progress is not None:
                progress(done, total, {"frame": start + k})
            yield out
            if k + 1 < outs.shape[0]:
                check_cancel(cancel)
        del outs, crops, fulls, records



# ---- every face, tracked ------------------------------------------------------------------------------
def _tracked_setup(mode, paste_back, face, aligned, detector, padding, faces, state, paste, feather, smoothing,
                   max_missing):
    from ..faces import DEFAULT_PADDING, FaceSelection, FaceTracker, PasteOptions, VideoState

    if not paste_back:
        raise InputError("tracking every face (faces, state or paste options) pastes the results back into the "
                         "frames: set paste_back=True")
    if mode not in ("first", "track"):
        raise InputError(f"tracking faces needs crop 'first' or 'track', got {mode!r}")
    if face is not None or aligned is not None:
        raise InputError("face and aligned choose one face; with faces/state each tracked face gets its own")
    if isinstance(faces, str):
        faces = FaceSelection.parse(faces)
    if faces is not None and not isinstance(faces, FaceSelection):
        raise InputError(f"faces must be a faces.FaceSelection or its text, got {type(faces).__name__}")
    if state is not None and not isinstance(state, VideoState):
        raise InputError(f"state must be a faces.VideoState, got {type(state).__name__}")
    if paste is not None and not isinstance(paste, PasteOptions):
        raise InputError(f"paste must be a faces.PasteOptions, got {type(paste).__name__}")
    options = paste or PasteOptions("crop", feather)
    tracker = FaceTracker(faces, detector, DEFAULT_PADDING if padding is None else padding, follow=mode == "track",
                          smoothing=smoothing, max_missing=max_missing, state=state)
    return tracker, options


def _tracked_frames_out(model, it, editing_w, tracker, options, chunk_size, progress, cancel, total):
    from ..faces import apply_crop, paste_face

    renderers = {}
    index, done = 0, 0
    frame = _read_frame(it, 0, None, cancel)
    if frame is None:
        raise InputError("no frames to process: the video holds none (or none were read)")
    size = tuple(frame.shape[-2:])
    while frame is not None:
        start, chunk = index, []
        while frame is not None and len(chunk) < chunk_size:
            try:
                chunk.append((frame, tracker(frame)))
            except _PASS:
                raise
            except Exception as e:
                raise _with_frame_index(e, index) from e
            index += 1
            frame = _read_frame(it, index, size, cancel)
        by_track: dict = {}
        for k, (_, tracked) in enumerate(chunk):
            for tf in tracked:
                by_track.setdefault(tf.id, []).append((k, tf))
        outputs = {}
        for track_id, items in by_track.items():
            if track_id not in renderers:
                aligned = tracker.state.track(track_id).aligned
                renderers[track_id] = VideoRenderer(model, aligned[None] * 2 - 1, editing_w)
            crops = [apply_crop(chunk[k][0], tf.record) for k, tf in items]
            outs = _render(renderers[track_id], crops, [start + k for k, _ in items])
            outputs.update({(k, track_id): out for (k, _), out in zip(items, outs)})
        for k, (original, tracked) in enumerate(chunk):
            result, covered = original.clone(), torch.zeros_like(original[:1])
            for tf in tracked:
                track = tracker.state.track(tf.id)
                try:
                    pasted = paste_face(original, outputs[(k, tf.id)].to(original.device, original.dtype), tf.record,
                                        options, landmarks=tf.landmarks_in_crop(), onto=result,
                                        smooth_colour=lambda c, t=track: t.smooth_colour(c, tracker.smoothing))
                except _PASS:
                    raise
                except Exception as e:
                    raise _with_frame_index(e, start + k) from e
                result = pasted.frame
                covered = torch.maximum(1.0 - (1.0 - covered) * (1.0 - pasted.mask),
                                        torch.maximum(covered, pasted.mask))
            done += 1
            if progress is not None:
                progress(done, total, {"frame": start + k, "faces": len(tracked)})
            yield result, covered
            if k + 1 < len(chunk):
                check_cancel(cancel)
        del chunk, outputs
