"""The face parser at run time: :class:`FaceParser` turns RGB faces into class-id maps.

Pre-processing of the official release (``image_translation.py`` and the web UI, mask2face from a
photo): the RGB crop in 0..1 is normalised with the ImageNet mean/std, upsampled 2x (bilinear,
``align_corners=False``) "for precise segmentation", the main BiSeNet output (logits, already
bilinearly resized to the network input inside BiSeNet) is brought back to the crop size with
nearest-neighbour interpolation and the arg-max over classes gives the labels.
:meth:`FaceParser.parse` does exactly this by default (``scale=2.0``); ``size=512`` instead runs the
network on a 512x512 resize, as the face-parsing.PyTorch demo does.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

from ...base.errors import InputError
from .labels import NUM_CLASSES
from .network import BiSeNet
from .weights import load_bisenet

#: ImageNet normalisation used by the official code before the parser (on RGB in 0..1).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FaceParser:
    """The released BiSeNet face parser, ready for inference.

    ``FaceParser()`` builds a randomly initialised network (tests); use :meth:`load` for the real one.
    """

    def __init__(self, model: BiSeNet | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = (model if model is not None else BiSeNet(NUM_CLASSES)).to(self.device).eval()
        self.num_classes = self.model.n_classes

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "FaceParser":
        """Load ``faceparsing.pth`` (or a ``.safetensors`` copy of it) with strict key matching
        (:func:`~styleganex.faces.parsing.weights.load_bisenet`).

        Errors: ``FileNotFoundError`` naming the file when it is missing; ``ValueError`` naming the file
        and what it is when it is another checkpoint (e.g. a StyleGANEX ``.pt``) or does not match the
        BiSeNet keys/shapes.
        """
        return cls(load_bisenet(path), device)

    def to(self, device: str | torch.device) -> "FaceParser":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.inference_mode()
    def logits(
        self,
        image: Tensor,
        scale: float = 2.0,
        size: int | tuple[int, int] | None = None,
    ) -> Tensor:
        """Class logits ``[B,19,H,W]`` at the input size (see :meth:`parse` for the arguments)."""
        if not isinstance(image, Tensor):
            raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"image must have shape [B,3,H,W] (RGB, 0..1), got {list(image.shape)}")
        if image.shape[2] < 1 or image.shape[3] < 1:
            raise InputError(f"image is empty: {list(image.shape)}")
        h, w = image.shape[2], image.shape[3]
        x = image.to(device=self.device, dtype=torch.float32)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        if size is not None:
            th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
            if th < 32 or tw < 32:
                raise InputError(f"size must be at least 32, got {size}")
            if (th, tw) != (h, w):
                x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False,
                                  antialias=th < h or tw < w)
        elif scale != 1.0:
            if scale <= 0:
                raise InputError(f"scale must be > 0, got {scale}")
            th, tw = max(1, int(h * scale)), max(1, int(w * scale))
            x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=scale < 1)
        out = self.model(x)
        if out.shape[2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="nearest")
        return out

    def parse(
        self,
        image: Tensor,
        scale: float = 2.0,
        size: int | tuple[int, int] | None = None,
    ) -> Tensor:
        """Parse RGB faces ``[B,3,H,W]`` (float 0..1) into class ids ``[B,H,W]`` (int64, input size).

        * default (``scale=2.0``): the official StyleGANEX pre-processing — ImageNet normalisation,
          2x bilinear upsampling, network, logits back to the input size by nearest neighbour,
          arg-max. The official crops are at most 512x512, so the network sees at most 1024x1024.
        * ``size=512`` (or ``(h, w)``): run the network on a 512x512 bilinear resize instead (the
          face-parsing.PyTorch demo); ``scale`` is then ignored. Useful for large inputs.

        The result is on the input's device.
        """
        labels = self.logits(image, scale=scale, size=size).argmax(dim=1)
        return labels.to(image.device)

    __call__ = parse

    def parse_each(self, images: Tensor, size: int | tuple[int, int] | None = None, progress=None,
                   cancel=None) -> Tensor:
        """:meth:`parse` one image at a time (memory stays at one image), with progress and cancel.

        Args:
            images: ``[B, 3, H, W]`` float 0..1.
            size: as :meth:`parse` (None: the official 2x upsampling).
            progress: ``progress(done, total, info)`` after each image.
            cancel: checked before each image; True raises ``Cancelled``.

        Returns:
            ``[B, H, W]`` class ids (int64) on the CPU.
        """
        from ...base.errors import check_cancel

        out = []
        for b in range(images.shape[0]):
            check_cancel(cancel)
            out.append(self.parse(images[b:b + 1], size=size).cpu())
            if progress is not None:
                progress(b + 1, images.shape[0], {"stage": "parse"})
        return torch.cat(out)

