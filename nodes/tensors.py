"""ComfyUI's IMAGE/MASK tensors to the core's and back, checked at the door."""

from __future__ import annotations

import torch

from ..styleganex import ImageError


# ---- images ----------------------------------------------------------------------------------------
def _check_frames(x: torch.Tensor, name: str) -> None:
    """Float values, finite, every frame within the pixel cap (``styleganex.io.images.MAX_PIXELS``)."""
    from ..styleganex import check_image, check_pixels

    check_image(x, name, channels=None, value_range=None, ndims=(4,))
    check_pixels(x.shape[-1], x.shape[-2], f"{name} (each frame)")


def image_to_core(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE [B, H, W, C] (0..1) -> the core's [B, 3, H, W] float32 0..1 on the CPU.
    Grey images are repeated to RGB; an alpha channel is dropped. Refuses empty batches, other channel
    counts, non-float or non-finite values and frames over the pixel cap (ImageError)."""
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"{name} must be an IMAGE tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise ImageError(f"{name} must be an IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, got "
                         f"{tuple(image.shape)}")
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[2] == 0:
        raise ImageError(f"{name} is empty: {tuple(image.shape)}")
    _check_frames(image.permute(0, 3, 1, 2), name)
    x = image.detach().to("cpu", torch.float32)
    x = x[..., :3] if x.shape[-1] >= 3 else x.expand(-1, -1, -1, 3)
    return x.permute(0, 3, 1, 2).clamp(0.0, 1.0).contiguous()


def core_to_image(x: torch.Tensor) -> torch.Tensor:
    """The core's [B, 3, H, W] in 0..1 (every pipeline's range) -> IMAGE [B, H, W, 3] 0..1 on the CPU.
    NonFiniteError (never a black image) when the core handed back NaN or infinite values."""
    from ..styleganex import check_finite

    x = check_finite(x.detach().to("cpu", torch.float32), "the node's computation")
    return x.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous()


def mask_to_core(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """ComfyUI MASK [B, H, W] (or [H, W]) -> [B, 1, H, W] float32 on the CPU (checked as :func:`image_to_core`)."""
    if not isinstance(mask, torch.Tensor):
        raise ImageError(f"{name} must be a MASK tensor, got {type(mask).__name__}")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ImageError(f"{name} must be a MASK [batch, height, width], got {tuple(mask.shape)}")
    if mask.numel() == 0:
        raise ImageError(f"{name} is empty: {tuple(mask.shape)}")
    _check_frames(mask[:, None], name)
    return mask.detach().to("cpu", torch.float32)[:, None].contiguous()



