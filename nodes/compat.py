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
import comfy.model_patcher
import comfy.utils
import folder_paths
import torch

try:
    from comfy_execution.graph_utils import ExecutionBlocker
except ImportError:  # pragma: no cover - a ComfyUI without it: blocked outputs raise instead
    ExecutionBlocker = None

__all__ = ["ComfyExtension", "ExecutionBlocker", "io", "folder_paths", "model_management", "ProgressBar",
           "Interrupted", "ModelPatcher", "compute_device", "free_memory_for", "offload_device", "soft_empty_cache",
           "throw_if_interrupted", "interrupted", "load_models", "unload_model", "weights_leave_gpu_after_use",
           "auto_dtype", "send_node_text"]

ModelPatcher = comfy.model_patcher.ModelPatcher

ProgressBar = comfy.utils.ProgressBar
Interrupted = model_management.InterruptProcessingException


def compute_device():
    """The device ComfyUI computes on (``--cpu`` gives the CPU)."""
    return model_management.get_torch_device()


def offload_device():
    """Where idle models wait (the CPU unless ComfyUI keeps everything on the GPU)."""
    return model_management.unet_offload_device()


def free_memory_for(device) -> None:
    """Unload ComfyUI's other models from ``device`` before a training run (what ComfyUI's own training
    node does by asking for all the memory); nothing on the CPU."""
    device = torch.device(device)
    if device.type != "cpu":
        model_management.free_memory(1e30, device)


def soft_empty_cache() -> None:
    model_management.soft_empty_cache()


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel (clears the flag)."""
    model_management.throw_exception_if_processing_interrupted()


def interrupted() -> bool:
    """True when the user pressed Cancel (the flag is left set)."""
    return bool(model_management.processing_interrupted())


def load_models(patchers: list, memory_required: int = 0) -> None:
    """Have ComfyUI's memory manager put these models on their load device (freeing VRAM of other models
    when needed; nothing moves when they are loaded already). Whole models only: ours run as plain torch
    modules, which ComfyUI cannot stream layer by layer under --lowvram."""
    model_management.load_models_gpu(patchers, memory_required=memory_required, force_full_load=True)


def unload_model(patcher) -> bool:
    """Take one model out of ComfyUI's loaded models (its weights go back to the offload device)."""
    for i, loaded in enumerate(model_management.current_loaded_models):
        if loaded.model is patcher:
            model_management.current_loaded_models.pop(i).model_unload()
            return True
    return False


def weights_leave_gpu_after_use() -> bool:
    """True under --novram: no weights are kept on the GPU between runs."""
    return model_management.vram_state == model_management.VRAMState.NO_VRAM


# Types ComfyUI may pick on its own for our models on a device that runs them fast. None: measured on an
# H200 (benchmarks/README.md), bf16 decodes no faster than fp32 (19 ms) and differs by up to 14/255 at the
# 99th percentile, so only ComfyUI's explicit flags change the type.
AUTO_DTYPES: list = []


def auto_dtype(device: torch.device) -> torch.dtype:
    """ComfyUI's dtype for an image encoder/decoder on ``device`` (its VAE rule): fp32 unless ComfyUI runs
    with --bf16-vae / --fp16-vae (or a type in AUTO_DTYPES suits the device); --fp32-vae forces fp32."""
    return model_management.vae_dtype(device, allowed_dtypes=AUTO_DTYPES)


def send_node_text(text: str) -> None:
    """Show ``text`` on the running node in the frontend (nothing when no prompt is running)."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:  # pragma: no cover - older ComfyUI
        return
    context = get_executing_context()
    if context is None:
        return
    from server import PromptServer  # loaded by then: ComfyUI's server runs the prompt

    server = getattr(PromptServer, "instance", None)
    if server is not None:
        server.send_progress_text(text, context.node_id)
