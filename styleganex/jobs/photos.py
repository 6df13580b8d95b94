"""``invert`` and ``edit`` as tasks (:mod:`styleganex.jobs.task`): what the single-file commands and
``batch invert`` / ``batch edit`` run on each input.

``invert``: photo -> ``STEM_latent.safetensors``, ``STEM_crop.json``, ``STEM_inversion.png`` and
``STEM_crop.png`` (``_K`` per face when several faces are chosen), optionally ``STEM_faces.png`` (the
index map). Photos whose crops have one size are encoded (Step I) and decoded together,
``batch_size`` crops per model call; the optimisation (Step II) runs per photo, with the command's seed,
as the single-file command does.

``edit``: latent file -> an image (``_K`` per face when the latent holds several faces and none is
pasted back).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import torch

from ..base.errors import FaceError, InputError
from ..base.outputs import write_all
from ..faces import CropInfo, FaceSelection, PasteOptions, prepare_center
from ..faces.group import crop_faces
from ..io.images import image_writer, load_image, write_images
from ..model.latent import Latent
from ..model.network import StyleGANEX
from ..pipelines.encode_decode import decode_latent, encode_images, invert_images
from ..pipelines.latent_files import crop_info_to_dict, load_latent, save_latent
from .inputs import IMAGE_SUFFIXES, LATENT_SUFFIXES
from .task import Item, Task

__all__ = ["InvertTask", "InvertResult", "EditTask"]


@dataclass(eq=False)
class _Photo:
    image: torch.Tensor  # [3, H, W]
    crops: torch.Tensor  # [n, 3, h, w]
    aligned: torch.Tensor  # [n, 3, 256, 256]
    crop: CropInfo
    preview: torch.Tensor | None
    source: Path


@dataclass(eq=False)
class InvertResult:
    """One photo's inversion: its latent (the photo's faces), the decoded crops ``[n, 3, H, W]`` in 0..1,
    the crops, the index-map preview (or None) and the loss history of Step II (empty for 0 steps)."""

    latent: Latent
    recon: torch.Tensor
    crops: torch.Tensor
    preview: torch.Tensor | None
    history: list[float]


class InvertTask(Task):
    """Photo -> optimised latent, as ``python -m styleganex invert`` (see the module docstring).

    Args:
        model: an RGB model (``styleganex_inversion.pt``).
        steps, lr, mse_weight, seed: Step II settings (``steps=0``: the encoder only).
        selection: which faces (``faces.FaceSelection``); ignored with ``no_face``.
        no_face: a centre crop instead of a detected face.
        preview: also write ``STEM_faces.png``.
        lpips: the perceptual loss module (default: loaded by the optimisation from the models folder).
        model_name: how the latent's metadata names the model.
        batch_size: crops encoded and decoded together.
        step_progress: ``step_progress(steps)`` -> a context manager that is the optimisation's
            ``progress`` (the single-file command's step bar), or None.
        extra_inputs: other files the task reads (model, VGG weights): no output may be one of them.
    """

    name = "invert"
    batchable = True
    suffixes = IMAGE_SUFFIXES

    def __init__(self, model: StyleGANEX, *, steps: int = 500, lr: float = 0.05, mse_weight: float = 0.0,
                 seed: int = 0, selection: FaceSelection | None = None, no_face: bool = False,
                 preview: bool = False, lpips=None, model_name: str = "", batch_size: int = 1,
                 step_progress: Callable | None = None, extra_inputs: tuple = ()):
        self._model, self.steps, self.lr, self.mse_weight, self.seed = model, steps, lr, mse_weight, seed
        self.selection, self.no_face, self.preview, self.lpips = selection, no_face, preview, lpips
        self.model_name, self.batch_size, self.step_progress = model_name, batch_size, step_progress
        self.extra_inputs = tuple(p for p in extra_inputs if p is not None)

    # ---- names ---------------------------------------------------------------------------------
    def target(self, root: Path, rel: PurePosixPath) -> Path:
        return root / rel.parent / rel.stem

    def _named(self, item: Item, suffix: str) -> Path:
        return item.target.parent / f"{item.target.name}{suffix}"

    def image_paths(self, item: Item, count: int) -> list[tuple[Path, Path]]:
        """(reconstruction, crop) file pairs for ``count`` faces."""
        suffixes = [f"_{k}" for k in range(count)] if count > 1 else [""]
        return [(self._named(item, f"_inversion{s}.png"), self._named(item, f"_crop{s}.png")) for s in suffixes]

    def outputs(self, item: Item) -> list[Path]:
        return [self._named(item, "_crop.json"), *self.image_paths(item, 1)[0], self._named(item, "_faces.png"),
                self._named(item, "_latent.safetensors")]

    def clean(self, item: Item) -> None:
        """Also the temporary files of the per-face images (``_inversion_K.png``, ``_crop_K.png``)."""
        super().clean(item)
        stem = re.escape(item.target.name)
        pattern = re.compile(rf"^\.{stem}_(inversion|crop)_\d+\.png\.[0-9a-f]{{8}}\.partial$")
        if item.target.parent.is_dir():
            for stale in item.target.parent.iterdir():
                if pattern.match(stale.name):
                    stale.unlink(missing_ok=True)

    def complete(self, item: Item) -> bool:
        # the latent is renamed into place last (see write), so it exists only when the rest does
        return self._named(item, "_latent.safetensors").is_file() and self._named(item, "_crop.json").is_file()

    def inputs(self, item: Item) -> list:
        return [item.source, *self.extra_inputs]

    # ---- work ----------------------------------------------------------------------------------
    def prepare(self, item: Item) -> _Photo:
        image = load_image(item.source)
        if self.no_face:
            prepared = prepare_center(image)
            return _Photo(image, prepared.crop[None], prepared.aligned[None], CropInfo.from_prepared([prepared]),
                          None, item.source)
        found = crop_faces(image[None], self.selection)
        if found.group is None:
            preview_path = self._named(item, "_faces.png")
            write_images([(preview_path, found.preview[0])])
            raise FaceError(f"{item.source}: {found.problem}. The faces are numbered and marked in {preview_path}; "
                            "choose others with --faces, or use --no-face for a centre crop")
        group = found.group
        return _Photo(image, group.crops, group.aligned, group.crop.with_frames(image[None]), found.preview[0],
                      item.source)

    def compute(self, prepared: list[_Photo]) -> list[InvertResult]:
        results: list[InvertResult | None] = [None] * len(prepared)
        by_size: dict[tuple, list[int]] = {}
        for i, photo in enumerate(prepared):
            by_size.setdefault(tuple(photo.crops.shape[-2:]), []).append(i)
        for indices in by_size.values():
            for i, result in zip(indices, self._compute_same_size([prepared[i] for i in indices])):
                results[i] = result
        return results

    def _compute_same_size(self, photos: list[_Photo]) -> list[InvertResult]:
        """Step I for all crops together, Step II per photo, decoding all together."""
        counts = [p.crops.shape[0] for p in photos]
        starts = [sum(counts[:k]) for k in range(len(counts))]
        joined = encode_images(self.model, torch.cat([p.crops for p in photos]),
                               torch.cat([p.aligned for p in photos]), batch_size=self.batch_size)
        latents, histories = [], []
        for photo, start, count in zip(photos, starts, counts):
            latent = replace(joined.frames(start, start + count), crop=photo.crop)
            history = []
            if self.steps > 0:
                bar = self.step_progress(self.steps) if self.step_progress else contextlib.nullcontext()
                with bar as progress:
                    result = invert_images(self.model, photo.crops, latent=latent, steps=self.steps, lr=self.lr,
                                           mse_weight=self.mse_weight, seed=self.seed, lpips=self.lpips,
                                           progress=progress)
                latent, history = result.latent, result.history
            latent.meta.update(photo=str(photo.source), model=self.model_name or latent.meta.get("model", ""))
            latents.append(latent)
            histories.append(history)
        recon = decode_latent(self.model, Latent.cat(latents), batch_size=self.batch_size)
        return [InvertResult(latent, recon[start:start + count], photo.crops, photo.preview, history)
                for latent, photo, start, count, history in zip(latents, photos, starts, counts, histories)]

    def write(self, item: Item, result: InvertResult) -> list[Path]:
        paths = self.image_paths(item, result.recon.shape[0])
        images = [(path, picture) for (recon_path, crop_path), k in zip(paths, range(len(paths)))
                  for path, picture in ((recon_path, result.recon[k]), (crop_path, result.crops[k]))]
        if self.preview and result.preview is not None:
            images.append((self._named(item, "_faces.png"), result.preview))
        crop_json = json.dumps(crop_info_to_dict(result.latent.crop), indent=2)
        latent_path = self._named(item, "_latent.safetensors")
        # all files appear together, or none; the latent last, so that it marks a complete item
        items = [*[(path, image_writer(picture, path)) for path, picture in images],
                 (self._named(item, "_crop.json"), lambda tmp: tmp.write_text(crop_json)),
                 (latent_path, lambda tmp: save_latent(result.latent, tmp))]
        write_all(items)
        return [path for path, _ in items]

    def describe(self, item: Item, result: InvertResult) -> str:
        lines = []
        if result.history:
            lines.append(f"loss {result.history[0]:.4f} -> {result.history[-1]:.4f} in {len(result.history)} steps")
        n = result.recon.shape[0]
        images = 2 * n + (1 if self.preview and result.preview is not None else 0)
        faces = f" ({n} faces)" if n > 1 else ""
        lines.append(f"wrote {self._named(item, '_latent.safetensors')}{faces}, {images} images and "
                     f"{item.target.name}_crop.json in {item.target.parent}")
        return "\n".join(lines)


class EditTask(Task):
    """Latent file -> edited image, as ``python -m styleganex edit``.

    Args:
        model: the model of the latents; ``generator`` (a loaded ``Generator``) swaps in another decoder.
        direction, strength, layers: the edit (``pipelines.editing.load_direction``'s result), or None.
        mix_seed, mix_layers: style mixing, or None.
        frame: the photo to paste every face back into (the single-file command's ``--frame``), or None.
        paste: how faces are pasted back.
        extra_inputs: other files the task reads (no output may be one of them).
    """

    name = "edit"
    suffixes = LATENT_SUFFIXES

    def __init__(self, model: StyleGANEX, *, direction=None, strength: float = 1.0, layers=None,
                 mix_seed: int | None = None, mix_layers=None, generator=None, frame: str | None = None,
                 paste: PasteOptions | None = None, extra_inputs: tuple = ()):
        if direction is None and mix_seed is None and generator is None:
            raise InputError("nothing to do: give --direction, --mix-seed or --generator")
        self._model = model if generator is None else model.swap_generator(generator)
        self.latent_model = model
        self.direction, self.strength, self.layers = direction, strength, layers
        self.mix_seed, self.mix_layers, self.frame, self.paste = mix_seed, mix_layers, frame, paste
        self.extra_inputs = tuple(p for p in extra_inputs if p is not None)

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        stem = rel.stem[:-len("_latent")] if rel.stem.endswith("_latent") and rel.stem != "_latent" else rel.stem
        return root / rel.parent / f"{stem}.png"

    def _face_paths(self, item: Item, count: int) -> list[Path]:
        t = item.target
        return [t.with_name(f"{t.stem}_{k}{t.suffix}") for k in range(count)]

    def outputs(self, item: Item) -> list[Path]:
        return [item.target]

    def complete(self, item: Item) -> bool:
        # several faces are written as _0.._K with _0 renamed into place last (see write)
        return item.target.is_file() or self._face_paths(item, 1)[0].is_file()

    def inputs(self, item: Item) -> list:
        return [item.source, self.frame, *self.extra_inputs]

    def prepare(self, item: Item) -> Any:
        from ..pipelines.editing import edit_latent

        latent = load_latent(item.source, self.latent_model)
        return edit_latent(latent, self.direction, self.strength, self.layers, model=self.latent_model,
                           mix="off" if self.mix_seed is None else "random", mix_rows=self.mix_layers,
                           mix_seed=self.mix_seed or 0)

    def compute_one(self, latent: Latent) -> torch.Tensor:
        from ..pipelines.encode_decode import render_latent

        frames = None if self.frame is None else load_image(self.frame)[None]
        return render_latent(self.model, latent, crop=latent.crop, frames=frames,
                             paste=None if frames is None else self.paste).images

    def write(self, item: Item, result: torch.Tensor) -> list[Path]:
        if result.shape[0] == 1:
            write_images([(item.target, result[0])])
            return [item.target]
        paths = self._face_paths(item, result.shape[0])  # several faces, not pasted: one file each
        write_images(list(reversed(list(zip(paths, result)))))
        return paths

    def describe(self, item: Item, result: torch.Tensor) -> str:
        if result.shape[0] == 1:
            return f"wrote {item.target}"
        return f"wrote {result.shape[0]} faces: {', '.join(p.name for p in self._face_paths(item, result.shape[0]))}"
