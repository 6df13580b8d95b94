"""The one place that imports ComfyUI: the V3 node API and the few runtime services the nodes use.

Everything else in ``nodes/`` imports ComfyUI names from here, so a change of ComfyUI's API is
handled in this file alone. ``comfy_api.latest`` is preferred; ``comfy_api.v0_0_2`` (the same V3
schema in ComfyUI 0.3.4x-0.3.7x) is the fallback.
"""

from __future__ import annotations

try:
    from comfy_api.latest import ComfyExtension, io
except ImportError:  # pragma: no cover - older ComfyUI
    from comfy_api.v0_0_2 import ComfyExtension, io

import comfy.model_management as model_management
import comfy.utils
import folder_paths

try:
    from comfy_execution.graph_utils import ExecutionBlocker
except ImportError:  # pragma: no cover - a ComfyUI without it: blocked outputs raise instead
    ExecutionBlocker = None

__all__ = ["ComfyExtension", "ExecutionBlocker", "io", "folder_paths", "model_management", "ProgressBar", "Interrupted",
           "compute_device", "offload_device", "soft_empty_cache", "throw_if_interrupted", "interrupted"]

ProgressBar = comfy.utils.ProgressBar
Interrupted = model_management.InterruptProcessingException


def compute_device():
    """The device ComfyUI computes on (``--cpu`` gives the CPU)."""
    return model_management.get_torch_device()


def offload_device():
    """Where idle models wait (the CPU unless ComfyUI keeps everything on the GPU)."""
    return model_management.unet_offload_device()


def soft_empty_cache() -> None:
    model_management.soft_empty_cache()


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel (clears the flag)."""
    model_management.throw_exception_if_processing_interrupted()


def interrupted() -> bool:
    """True when the user pressed Cancel (the flag is left set)."""
    return bool(model_management.processing_interrupted())
