"""``prepare``: photos -> the training images of the release, as a task (:mod:`styleganex.jobs.task`).

For each photo the face is found as :func:`~styleganex.faces.prepare_face` finds it (dlib's HOG detector
and 68 landmarks, the largest face) and re-aligned the release's way (:func:`~styleganex.faces.align.realign_face`:
the FFHQ alignment grown 1.25x, the face in the central 1024/1280), at the release's two sizes:

    OUT/realign1280x1280/NAME.png    (transformed at 5120, Lanczos-resized: the SR targets)
    OUT/realign320x320/NAME.png      (transformed at 1280, Lanczos-resized: every recipe's input)

``NAME`` follows the input's relative name, so ``batch prepare --inputs photos/ --out data/`` then
``train ... --data data/`` goes from a user's photos to a model. PNG keeps the pixels exact (the release
saves JPEG).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import torch

from ..base.errors import InputError
from ..faces.align import REALIGN_SIZES, realign_face
from ..faces.detect import detect_face
from ..io.images import load_image, write_images
from .inputs import IMAGE_SUFFIXES
from .task import Item, Task

__all__ = ["PrepareTask", "realign_folder"]


def realign_folder(size: int) -> str:
    """The release's folder name of the training images of ``size`` (``realign320x320``)."""
    return f"realign{size}x{size}"


class PrepareTask(Task):
    """Photo -> the release's re-aligned training images (see the module docstring).

    Args:
        root: the output folder (the size folders are made in it).
        sizes: which of :data:`~styleganex.faces.align.REALIGN_SIZES` to write.
        detector: the face detector (default: dlib, as the release).
        rule: which face when there are several (``faces.detect_face``'s rule; default the largest).
    """

    name = "prepare"
    suffixes = IMAGE_SUFFIXES

    def __init__(self, root: Path, *, sizes=(1280, 320), detector=None, rule: str = "largest"):
        sizes = tuple(int(s) for s in sizes)
        bad = [s for s in sizes if s not in REALIGN_SIZES]
        if not sizes or bad:
            raise InputError(f"--sizes: the release's training sizes are {', '.join(map(str, REALIGN_SIZES))}, "
                             f"got {', '.join(map(str, sizes)) or 'none'}")
        self.root, self.sizes, self.detector, self.rule = Path(root), sizes, detector, rule

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        return Path(rel.with_suffix(".png"))

    def outputs(self, item: Item) -> list[Path]:
        return [self.root / realign_folder(s) / item.target for s in self.sizes]

    def prepare(self, item: Item) -> tuple[torch.Tensor, object]:
        image = load_image(item.source)
        return image, detect_face(image, self.detector, rule=self.rule)

    def compute_one(self, prepared) -> list[torch.Tensor]:
        image, face = prepared
        return [realign_face(image, face, size) for size in self.sizes]

    def write(self, item: Item, result: list[torch.Tensor]) -> list[Path]:
        paths = self.outputs(item)
        write_images(list(zip(paths, result)))
        return paths

    def describe(self, item: Item, result) -> str:
        return f"wrote {', '.join(str(p) for p in self.outputs(item))}"
