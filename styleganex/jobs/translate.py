"""``sr``, ``sketch2face``, ``mask2face`` and ``video`` as tasks (:mod:`styleganex.jobs.task`): what the
single-file commands and ``batch sr`` / ``sketch2face`` / ``mask2face`` / ``video`` run on each input.

``sr`` batches: the inputs of each photo are made on the CPU (:func:`~styleganex.pipelines.translation.sr_inputs`,
the release's crop and alignment), then photos whose upsampled crops have one size are encoded and
decoded together (:func:`~styleganex.pipelines.translation.render_sr`), each with the noise its seed
gives it alone. Sketch and mask inputs are run one at a time (the encoder uses each input's own
BatchNorm statistics, as released); a video is one item, never split (its tracking runs through the
whole clip).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import torch

from ..base.errors import InputError
from ..io.images import load_image, write_images
from ..model.network import StyleGANEX
from ..pipelines.translation import center_crop_512, mask_to_face, render_sr, sketch_to_face, sr_inputs
from .inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .task import Item, Lazy, Task, resolve

__all__ = ["SRTask", "SamplesTask", "VideoTask"]


class SRTask(Task):
    """Photo -> super-resolved face, as ``python -m styleganex sr``.

    Args:
        model: an SR model (or a ``Lazy`` that loads it).
        factor: the SR factor (None: the model's default).
        degrade: True: the release's default mode (the photo's face crop is degraded by ``factor // 4``
            and super-resolved back; ``pipelines.translation.release_degradation``).
        seed: the decoder noise seed.
        batch_size: photos of one crop size encoded and decoded together.
        extra_inputs: other files the task reads (no output may be one of them).
    """

    name = "sr"
    batchable = True
    suffixes = IMAGE_SUFFIXES

    def __init__(self, model: StyleGANEX | Lazy, *, factor: int | None = None, degrade: bool = False, seed: int = 0,
                 batch_size: int = 1, extra_inputs: tuple = ()):
        self._model, self._factor, self._degrade, self.seed, self.batch_size = model, factor, degrade, seed, batch_size
        self._settings: tuple[int, int | None] | None = None
        self.extra_inputs = tuple(p for p in extra_inputs if p is not None)

    @property
    def settings(self) -> tuple[int, int | None]:
        """``(factor, degrade_factor)`` checked against the model (``pipelines.translation.sr_settings``)."""
        if self._settings is None:
            from ..pipelines.translation import release_degradation, sr_settings

            model = self.model
            model.require_kind("sr", task="super_resolve")
            factor, degrade_factor = self._factor, None
            if self._degrade:
                factor, degrade_factor = release_degradation(model, factor)
            self._settings = sr_settings(model, factor, degrade_factor)
        return self._settings

    def load(self) -> SRTask:
        _ = self.settings
        return self

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        return root / rel.with_suffix(".png")

    def outputs(self, item: Item) -> list[Path]:
        return [item.target]

    def inputs(self, item: Item) -> list:
        return [item.source, *self.extra_inputs]

    def prepare(self, item: Item):
        image = load_image(item.source)  # the input's errors first, then the model's
        return sr_inputs(image, *self.settings)

    def compute(self, prepared: list) -> list[torch.Tensor]:
        results: list = [None] * len(prepared)
        by_size: dict[tuple, list[int]] = {}
        for i, inputs in enumerate(prepared):
            by_size.setdefault(tuple(inputs.up.shape), []).append(i)
        for indices in by_size.values():
            outs = render_sr(self.model, [prepared[i].up for i in indices],
                             [prepared[i].aligned * 2 - 1 for i in indices], seed=self.seed,
                             batch_size=self.batch_size)
            for i, out in zip(indices, outs):
                results[i] = (out[0].float().cpu() + 1) / 2
        return results

    def write(self, item: Item, result: torch.Tensor) -> list[Path]:
        write_images([(item.target, result)])
        return [item.target]

    def describe(self, item: Item, result: torch.Tensor) -> str:
        return f"wrote {item.target} ({result.shape[-1]}x{result.shape[-2]})"


@dataclass(frozen=True)
class _Kind:
    run: Callable
    read: Callable  # (task, path) -> the model input


def _read_sketch(task: SamplesTask, path: Path) -> torch.Tensor:
    from ..pipelines.translation import prepare_sketch

    return prepare_sketch(load_image(path))


def _read_mask(task: SamplesTask, path: Path) -> torch.Tensor:
    if task._parser is not None:
        from ..faces import prepare_face

        crop = prepare_face(load_image(path)).crop
        return center_crop_512(resolve(task._parser).parse(crop[None]).cpu())
    from ..faces.parsing import label_image_to_labels
    from ..io.images import open_image

    return center_crop_512(label_image_to_labels(open_image(path)))  # palette indices kept: the pixel cap applies


class SamplesTask(Task):
    """Sketch or label map -> ``number`` faces ``STEM_0.png ...``, as ``sketch2face`` / ``mask2face``.

    Args:
        kind: ``"sketch2face"`` or ``"mask2face"``.
        model: the matching model.
        number, seed: how many faces, and the seed of their styles and noise.
        parser: ``mask2face``: a ``FaceParser`` (or a ``Lazy`` that loads it); the inputs are then photos,
            cropped and parsed first.
        progress: ``progress(done, total, info)`` per sample (the single-file command's bar), or None.
        extra_inputs: other files the task reads (no output may be one of them).
    """

    suffixes = IMAGE_SUFFIXES
    KINDS = {"sketch2face": _Kind(sketch_to_face, _read_sketch), "mask2face": _Kind(mask_to_face, _read_mask)}

    def __init__(self, kind: str, model: StyleGANEX, *, number: int = 4, seed: int = 0, parser=None,
                 progress: Callable | None = None, extra_inputs: tuple = ()):
        if kind not in self.KINDS:
            raise InputError(f"kind must be one of {sorted(self.KINDS)}, got {kind!r}")
        self.name, self.kind, self._model, self.number, self.seed = kind, self.KINDS[kind], model, number, seed
        self._parser, self.progress = parser, progress
        self.extra_inputs = tuple(p for p in extra_inputs if p is not None)

    def load(self) -> SamplesTask:
        _ = self.model, resolve(self._parser)
        return self

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        return root / rel.parent / rel.stem

    def outputs(self, item: Item) -> list[Path]:
        return [item.target.parent / f"{item.target.name}_{i}.png" for i in range(self.number)]

    def inputs(self, item: Item) -> list:
        return [item.source, *self.extra_inputs]

    def prepare(self, item: Item) -> torch.Tensor:
        return self.kind.read(self, item.source)

    def compute_one(self, x: torch.Tensor) -> torch.Tensor:
        return self.kind.run(self.model, x, self.number, self.seed, progress=self.progress).float().cpu()

    def write(self, item: Item, result: torch.Tensor) -> list[Path]:
        items = list(zip(self.outputs(item), result))
        write_images(items)
        return [p for p, _ in items]

    def describe(self, item: Item, result: torch.Tensor) -> str:
        return f"wrote {result.shape[0]} images to {item.target.parent}"


class VideoTask(Task):
    """Video -> edited / toonified video, as ``python -m styleganex video``. A video is one item: its
    frames are processed and written as they stream (``pipelines.video.process_video``), the output
    renamed into place once complete.

    Args:
        model: an editing or toonify model.
        options: ``process_video``'s keyword arguments other than the frames and progress (editing_scale,
            crop, chunk_size, paste_back, faces, paste, ...); ``state`` is made fresh for each video.
        max_frames, allow_short: how the input is read (``io.video_files.read_video_frames``).
        tracked: make a ``faces.VideoState`` per video (paste-back).
        progress: ``progress(total)`` -> a context manager that is the frames' ``progress``, or None.
        extra_inputs: other files the task reads (no output may be one of them).
    """

    name = "video"
    suffixes = VIDEO_SUFFIXES

    def __init__(self, model: StyleGANEX, *, options: dict, max_frames: int | None = None,
                 allow_short: bool = False, tracked: bool = False, progress: Callable | None = None,
                 extra_inputs: tuple = ()):
        self._model, self.options, self.max_frames, self.allow_short = model, dict(options), max_frames, allow_short
        self.tracked, self.progress = tracked, progress
        self.extra_inputs = tuple(p for p in extra_inputs if p is not None)

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        from ..io.video_files import VIDEO_FORMATS

        return root / (rel if rel.suffix.lower() in VIDEO_FORMATS else rel.with_suffix(".mp4"))

    def outputs(self, item: Item) -> list[Path]:
        return [item.target]

    def inputs(self, item: Item) -> list:
        return [item.source, *self.extra_inputs]

    def prepare(self, item: Item) -> Any:
        from ..io.video_files import probe_video, video_format

        video_format(item.target)
        return probe_video(item.source)

    def compute_one(self, info) -> Any:
        return info  # the frames are processed while they are written (write)

    def write(self, item: Item, info) -> list[Path]:
        import contextlib

        from ..io.video_files import read_video_frames, write_video
        from ..pipelines.video import process_video

        total = info.n_frames if self.max_frames is None else min(info.n_frames, self.max_frames)
        frames = read_video_frames(item.source, max_frames=self.max_frames, allow_short=self.allow_short)
        options = dict(self.options)
        if self.tracked:
            from ..faces import VideoState

            options["state"] = VideoState()
        item.target.parent.mkdir(parents=True, exist_ok=True)
        bar = self.progress(total) if self.progress else contextlib.nullcontext()
        with bar as progress:
            outs = (out.frame for out in process_video(self.model, frames, progress=progress, total=total, **options))
            self.written = write_video(item.target, outs, info.fps, audio_from=item.source)
        return [item.target]

    def describe(self, item: Item, info) -> str:
        w = self.written
        return (f"wrote {item.target} ({w.n_frames} frames, {w.width}x{w.height}"
                f"{', with audio' if w.has_audio else ''})")

    def clean(self, item: Item) -> None:
        pattern = re.compile(rf"^\.{re.escape(item.target.name)}\.[0-9a-f]{{12}}\.part$")
        if item.target.parent.is_dir():
            for stale in item.target.parent.iterdir():
                if pattern.match(stale.name):
                    stale.unlink(missing_ok=True)
