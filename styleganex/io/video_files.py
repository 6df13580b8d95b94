"""Offline video reading and writing with PyAV (``av``).

* :func:`probe_video` — frame rate, frame count, size and whether there is an audio track.
* :func:`read_video_frames` — lazily decoded RGB frames as ``Tensor[3,H,W]`` float in 0..1.
* :func:`write_video` — H.264 (libx264, yuv420p) MP4 from an iterable of such frames, optionally with
  the audio of another file, written atomically.

Conventions and choices:

* Colour: frames are converted RGB -> YUV with BT.601 coefficients in limited ("TV") range and the
  stream is tagged so (``smpte170m``); decoding honours the colour space / range tagged in the file.
* Odd sizes: yuv420p needs even width and height. An odd-sized frame is padded by one column and/or
  row on the right/bottom, repeating the edge pixels, so a W x H input gives a file of
  ``W + W % 2`` x ``H + H % 2`` (nothing is cropped or rescaled). :func:`write_video` returns the
  written size in its :class:`VideoInfo`.
* Audio: the first audio stream of ``audio_from`` is decoded and re-encoded to AAC (always
  re-encoded, so any source codec works and the track can be cut sample-accurately): it is aligned
  on the source's first video frame (its start for an audio-only file), cut to the length of the
  written video and interleaved with the video. A source without audio gives a silent video.
* Atomic output: everything is written to a hidden temporary file in the destination folder
  (``.<name>.<random>.part``) that is renamed onto ``path`` only after the file is complete. Any
  exception raised meanwhile — including one raised by the frames iterable, e.g. a user cancelling
  the job, or ``KeyboardInterrupt`` — removes the temporary file and leaves ``path`` untouched.
* Errors: :class:`VideoError` (a ``ValueError``) for files that are not readable videos, are
  corrupt, or have no video stream; :class:`VideoNotFoundError` (both a ``VideoError`` and a
  ``FileNotFoundError``) for a missing file or output folder.
* Truncated or damaged files: :func:`read_video_frames` compares the frames it decoded with the
  container's frame count (or duration x frame rate) and raises :class:`VideoError` with both numbers
  when frames are missing; ``allow_short=True`` (the CLI's ``--allow-short``) turns that into a
  :class:`~styleganex.base.errors.StyleGANEXWarning` with the numbers.
* Frames over the pixel cap (``styleganex.io.images.MAX_PIXELS``) are refused before decoding.
* Output containers by extension (:data:`VIDEO_FORMATS`: .mp4, .m4v, .mov, .mkv); any other extension is
  refused. Frames with NaN or infinite values are refused (:class:`~styleganex.base.errors.NonFiniteError`),
  never written as black.
* Rotation metadata (phone videos) is not applied: frames come out as stored.
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import av
import numpy as np
import torch
from torch import Tensor

from ..base.errors import InputError, NonFiniteError, StyleGANEXWarning, VideoError, VideoNotFoundError, check_cancel
from ..base.outputs import format_for

__all__ = [
    "VideoError",
    "VideoNotFoundError",
    "VIDEO_FORMATS",
    "VideoInfo",
    "probe_video",
    "read_video_frames",
    "write_video",
]

# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic value 6 = SMPTE 170M (BT.601 525),
# AVColorRange 1 = MPEG (limited range).
_BT601 = 6
_RANGE_MPEG = 1
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Video extensions :func:`write_video` produces, and the container format each is written as."""

_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` reports about a file's first video stream."""

    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool
    duration: float | None = None  # seconds, when the container knows it
    codec: str = ""


_AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError,)


def _check_exists(path: Path, what: str = "Video file") -> None:
    if not path.exists():
        raise VideoNotFoundError(2, f"{what} not found: {path}", str(path))
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file")


def _open_input(path: Path):
    _check_exists(path)
    try:
        return av.open(str(path), mode="r")
    except _AV_ERRORS + (UnicodeDecodeError, ValueError) as exc:  # odd files can trip the demuxer probing
        # the decoder's own words may quote bytes of the file: only its kind of error is shown
        raise VideoError(f"{path} is not a readable video file ({type(exc).__name__})") from exc


def _video_stream(container, path: Path):
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise VideoError(f"{path} has no video stream ({kinds})")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.width or not stream.codec_context.height:
        raise VideoError(f"{path}: the video stream has no decodable frames (unknown size or codec)")
    return stream


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            fps = float(rate)
            if math.isfinite(fps) and fps > 0:
                return fps
    return 0.0


def _count_packets(container, stream) -> int:
    n = 0
    for packet in container.demux(stream):
        if packet.size:  # the demuxer ends with an empty flush packet
            n += 1
    return n


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count, size and audio presence of the first video stream of ``path``.

    The frame count comes from the container index when there is one, otherwise from counting the
    stream's packets (no decoding). Raises :class:`VideoError` for unreadable/non-video files.
    """
    p = Path(path)
    container = _open_input(p)
    try:
        stream = _video_stream(container, p)
        fps = _stream_fps(stream)
        n_frames = int(stream.frames or 0)
        if n_frames <= 0:
            n_frames = _count_packets(container, stream)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        if n_frames <= 0:
            raise VideoError(f"{p}: the video stream holds no frames")
        return VideoInfo(
            fps=fps,
            n_frames=n_frames,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            has_audio=bool(container.streams.audio),
            duration=duration,
            codec=stream.codec_context.name or "",
        )
    except _AV_ERRORS as exc:
        raise VideoError(f"{p} could not be read as a video: {exc}") from exc
    finally:
        container.close()


def _frame_to_tensor(frame) -> Tensor:
    kwargs = {}
    rng = int(getattr(frame, "color_range", 0) or 0)
    if rng in (1, 2):  # honour an explicit limited/full range tag
        kwargs["src_color_range"] = rng
    arr = frame.to_ndarray(format="rgb24", **kwargs)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).to(torch.float32).div_(255.0)


def _expected_frames(container, stream) -> tuple[int | None, str, int]:
    """(frames the container promises, where that number comes from, frames of slack) or (None, '', 0)."""
    if stream.frames and stream.frames > 0:
        n = int(stream.frames)
        return n, f"its index lists {n}", max(1, n // 100)
    fps = _stream_fps(stream)
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if seconds is not None and math.isfinite(seconds) and fps > 0:
        n = round(seconds * fps)
        if n > 0:
            return n, f"its duration {seconds:.3g} s at {fps:.4g} fps means {n}", max(2, n // 20)
    return None, "", 0


def _short(path: Path, decoded: int, expected: int | None, source: str, allow_short: bool, why: str = "") -> None:
    message = (f"{path} is truncated or damaged: {decoded} frame(s) decoded, but {source}"
               f"{f' ({why})' if why else ''}")
    if not allow_short:
        raise VideoError(f"{message}. Repair or re-export the file, or pass --allow-short (allow_short=True) to use "
                         f"the {decoded} frames")
    warnings.warn(f"{message}; continuing with {decoded} frames as asked (--allow-short)", StyleGANEXWarning,
                  stacklevel=3)


def _iter_frames(path: Path, max_frames: int | None, allow_short: bool = False) -> Iterator[Tensor]:
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        expected, source, slack = _expected_frames(container, stream)
        stream.thread_type = "AUTO"
        n = 0
        if max_frames == 0:
            return
        try:
            for frame in container.decode(stream):
                yield _frame_to_tensor(frame)
                n += 1
                if max_frames is not None and n >= max_frames:
                    return
        except _AV_ERRORS as exc:
            if expected is None or not allow_short or n == 0:
                raise VideoError(f"{path}: decoding failed after {n} frame(s): {exc}") from exc
            _short(path, n, expected, source, allow_short, f"decoding stopped: {exc}")
            return
        if n == 0:
            raise VideoError(f"{path}: no frame could be decoded")
        wanted = expected if max_frames is None or expected is None else min(expected, max_frames)
        if wanted is not None and n < wanted - slack:
            _short(path, n, expected, source, allow_short)
    finally:
        container.close()


def read_video_frames(path: str | os.PathLike, max_frames: int | None = None, *,
                      allow_short: bool = False) -> Iterator[Tensor]:
    """Iterate over the frames of ``path`` as RGB ``Tensor[3,H,W]`` float32 in 0..1 (CPU).

    The file is checked immediately (a :class:`VideoError` is raised by this call, not at the first
    ``next``); frames are decoded lazily. ``max_frames`` stops after that many frames. The file is
    closed when the iterator is exhausted or closed. Frames over the pixel cap
    (``styleganex.io.images.MAX_PIXELS``) are refused here.

    A file that yields fewer frames than its container promises (a truncated download or copy) raises
    :class:`VideoError` with both numbers after the last decoded frame; with ``allow_short`` it is a
    :class:`~styleganex.base.errors.StyleGANEXWarning` instead and the frames decoded are used.
    """
    from .images import check_pixels

    if max_frames is not None:
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 0:
            raise InputError(f"max_frames must be None or an int >= 0, got {max_frames!r}")
    p = Path(path)
    info = probe_video(p)  # raises VideoError now for unreadable/non-video files
    check_pixels(info.width, info.height, f"the frames of {p}", error=VideoError)
    return _iter_frames(p, max_frames, bool(allow_short))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _as_rate(fps) -> Fraction:
    try:
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)
    except (TypeError, ValueError) as exc:
        raise InputError(f"fps must be a positive number, got {fps!r}") from exc
    if not math.isfinite(float(rate)) or rate <= 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return rate


def _frame_to_rgb24(frame, index: int) -> np.ndarray:
    if isinstance(frame, np.ndarray):
        frame = torch.from_numpy(frame)
    if not isinstance(frame, Tensor):
        raise TypeError(f"frame {index} must be a torch.Tensor [3,H,W], got {type(frame).__name__}")
    t = frame.detach()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3) or t.shape[1] < 1 or t.shape[2] < 1:
        raise InputError(f"frame {index} must have shape [3,H,W] (or [1,H,W]), got {list(frame.shape)}")
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    if t.dtype == torch.uint8:
        u8 = t
    else:
        t = t.to(torch.float32)
        if not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"frame {index} to write holds NaN or infinite values (the step that made it "
                                 "failed); nothing was written")
        u8 = (t.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(u8.permute(1, 2, 0).cpu().numpy())


def _pad_even(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return arr
    return np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class _AudioCopier:
    """Decode the first audio stream of a file and re-encode it to AAC into an output container."""

    def __init__(self, source: Path, output):
        self.source = source
        self.container = _open_input(source)
        self.in_stream = None
        self.out_stream: Any = None  # av's AAC output stream, once opened
        if not self.container.streams.audio:
            self.container.close()
            self.container = None
            return
        ins = self.container.streams.audio[0]
        ictx = ins.codec_context
        channels = int(getattr(ictx, "channels", 0) or len(getattr(ictx.layout, "channels", ())) or 2)
        self.layout = "mono" if channels == 1 else "stereo"
        rate = int(ictx.sample_rate or 48000)
        self.rate = rate if rate in _AAC_RATES else 48000
        self.in_stream = ins
        # Time (s) of the source that maps to t=0 of the output: its first video frame if any.
        origin = None
        if self.container.streams.video:
            vs = self.container.streams.video[0]
            if vs.start_time is not None and vs.time_base is not None:
                origin = float(vs.start_time * vs.time_base)
        if origin is None and ins.start_time is not None and ins.time_base is not None:
            origin = float(ins.start_time * ins.time_base)
        self.origin = origin or 0.0
        self.out_stream = output.add_stream("aac", rate=self.rate)
        self.out_stream.codec_context.layout = self.layout
        self.out_stream.codec_context.bit_rate = 128000 if self.layout == "mono" else 192000
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self._frames = self.container.decode(ins)
        self._buffer = np.zeros((1 if self.layout == "mono" else 2, 0), np.float32)
        self._pos = 0  # output samples written so far
        self._started = False
        self._exhausted = False
        self._skip = 0  # source samples still to drop (audio that starts before the video)

    @property
    def active(self) -> bool:
        return self.out_stream is not None

    def _pull(self) -> bool:
        """Decode more source audio into the buffer; False when the source is exhausted."""
        if self._exhausted:
            return False
        try:
            frame = next(self._frames)
        except StopIteration:
            frame = None
        except _AV_ERRORS as exc:
            raise VideoError(f"{self.source}: audio decoding failed: {exc}") from exc
        chunks = []
        if frame is None:
            self._exhausted = True
            out_frames = self.resampler.resample(None)
        else:
            if not self._started:
                self._started = True
                t = frame.time
                if t is not None:
                    offset = int(round((float(t) - self.origin) * self.rate))
                    if offset > 0:  # audio starts after the first video frame: leading silence
                        chunks.append(np.zeros((self._buffer.shape[0], offset), np.float32))
                    elif offset < 0:  # audio starts before it: drop the lead-in
                        self._skip = -offset
            frame.pts = None  # let the resampler count samples itself
            out_frames = self.resampler.resample(frame)
        for of in out_frames:
            chunks.append(of.to_ndarray().reshape(self._buffer.shape[0], -1).astype(np.float32, copy=False))
        if chunks:
            data = np.concatenate([self._buffer] + chunks, axis=1)
            if self._skip:
                drop = min(self._skip, data.shape[1])
                data = data[:, drop:]
                self._skip -= drop
            self._buffer = data
        return not self._exhausted or self._buffer.shape[1] > 0

    def write_until(self, seconds: float, output) -> None:
        """Encode and mux source audio up to ``seconds`` of output time."""
        if not self.active:
            return
        target = int(round(seconds * self.rate))
        while self._pos < target:
            if self._buffer.shape[1] == 0 and not self._pull():
                return
            if self._buffer.shape[1] == 0:
                continue
            n = min(self._buffer.shape[1], target - self._pos)
            data, self._buffer = self._buffer[:, :n], self._buffer[:, n:]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=self.layout)
            frame.sample_rate = self.rate
            frame.pts = self._pos
            frame.time_base = Fraction(1, self.rate)
            self._pos += n
            for packet in self.out_stream.encode(frame):
                output.mux(packet)

    def finish(self, seconds: float, output) -> None:
        if not self.active:
            return
        self.write_until(seconds, output)
        for packet in self.out_stream.encode(None):
            output.mux(packet)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def video_format(path) -> str:
    """The container format for ``path``'s extension; OutputPathError for one not in :data:`VIDEO_FORMATS`."""
    return format_for(path, VIDEO_FORMATS, "videos")


def write_video(
    path: str | os.PathLike,
    frames: Iterable[Tensor],
    fps: float | Fraction,
    audio_from: str | os.PathLike | None = None,
    *,
    crf: int = 18,
    preset: str = "medium",
    progress: Callable[[int, int, dict], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VideoInfo:
    """Write ``frames`` (``Tensor[3,H,W]`` float 0..1, all the same size) as H.264 video at ``fps``, in the
    container ``path``'s extension names (:data:`VIDEO_FORMATS`; MP4 for .mp4).

    ``frames`` may be any iterable (a list, a generator, or a ``[N,3,H,W]`` tensor); it is consumed
    once, frame by frame. ``audio_from``: a video or audio file whose first audio track is
    re-encoded to AAC and cut to the video length (no audio track there: a silent video). ``crf``
    and ``preset`` are libx264's quality/speed settings (18 = visually near-lossless).
    ``progress(done, total, info)`` is called after each frame (``total`` is ``len(frames)`` when
    known, else 0); ``cancel()`` is checked before each frame and, when true, stops with
    :class:`styleganex.base.errors.Cancelled` (no output left behind).

    The MP4 is written to a temporary file next to ``path`` and renamed onto ``path`` only when it is
    complete; on any exception (including one from ``frames``) no file is left at ``path`` and the
    temporary file is removed. Odd sizes are padded to even (edge pixels repeated on the right /
    bottom). Returns the :class:`VideoInfo` of the written file.
    """
    rate = _as_rate(fps)
    if not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an int in 0..51, got {crf!r}")
    dest = Path(path)
    container_format = video_format(dest)
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise VideoNotFoundError(2, f"Output folder does not exist: {folder}", str(folder))
    if dest.is_dir():
        raise VideoError(f"{dest} is a folder; give a file name for the video")
    audio_path = Path(audio_from) if audio_from is not None else None
    if audio_path is not None:
        _check_exists(audio_path, "Audio source")

    try:
        total = len(frames)  # type: ignore[arg-type]
    except TypeError:
        total = 0
    tmp = folder / f".{dest.name}.{uuid.uuid4().hex[:12]}.part"
    output = None
    audio: _AudioCopier | None = None
    try:
        options = {"movflags": "+faststart"} if container_format in ("mp4", "mov") else {}
        output = av.open(str(tmp), mode="w", format=container_format, options=options)
        iterator = iter(frames)
        check_cancel(cancel)
        try:
            first = next(iterator)
        except StopIteration:
            raise InputError("write_video got no frames") from None
        arr = _frame_to_rgb24(first, 0)
        in_h, in_w = arr.shape[:2]
        arr = _pad_even(arr)
        height, width = arr.shape[:2]

        stream = output.add_stream("libx264", rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        ctx = stream.codec_context
        ctx.colorspace = _BT601
        ctx.color_primaries = _BT601
        ctx.color_trc = _BT601
        ctx.color_range = _RANGE_MPEG
        if audio_path is not None:
            audio = _AudioCopier(audio_path, output)

        index = 0
        while True:
            vf = av.VideoFrame.from_ndarray(arr, format="rgb24")
            vf = vf.reformat(format="yuv420p", dst_colorspace="itu601", dst_color_range="MPEG")
            vf.pts = index
            for packet in stream.encode(vf):
                output.mux(packet)
            index += 1
            if audio is not None:
                audio.write_until(float(index / rate), output)
            if progress is not None:
                progress(index, total, {"path": str(dest)})
            check_cancel(cancel)
            try:
                nxt = next(iterator)
            except StopIteration:
                break
            arr = _frame_to_rgb24(nxt, index)
            if arr.shape[:2] != (in_h, in_w):
                raise InputError(
                    f"frame {index} is {arr.shape[1]}x{arr.shape[0]} but frame 0 is {in_w}x{in_h}; "
                    "all frames of a video must have the same size"
                )
            arr = _pad_even(arr)
        for packet in stream.encode(None):
            output.mux(packet)
        if audio is not None:
            audio.finish(float(index / rate), output)
            has_audio = audio.active
            audio.close()
        else:
            has_audio = False
        output.close()
        output = None
        os.replace(tmp, dest)
    except BaseException as exc:
        if audio is not None:
            audio.close()
        if output is not None:
            try:
                output.close()
            except Exception:  # noqa: BLE001 - the original exception matters more
                pass
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(exc, _AV_ERRORS):
            raise VideoError(f"writing {dest} failed: {exc}") from exc
        raise
    return VideoInfo(
        fps=float(rate), n_frames=index, width=width, height=height, has_audio=has_audio,
        duration=float(index / rate), codec="h264",
    )
