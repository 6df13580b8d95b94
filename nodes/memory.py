"""Our models in ComfyUI's memory manager (``comfy.model_management``).

Each loaded model is registered as a ``ModelPatcher`` over a small wrapper module that reports its size
(parameters + buffers + tensors the core keeps as plain attributes, such as ``editing_w``). So ComfyUI
frees VRAM of other models for ours, keeps ours loaded between runs while memory allows (a second
Decode moves no weights), and evicts ours when another model needs the room. Under ``--cpu`` everything
stays on the CPU; under ``--novram`` the weights go back to the CPU after each use; ``--lowvram`` loads
our (small) models whole, since plain torch modules cannot compute with weights split across devices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .compat import (
    ModelPatcher,
    load_models,
    offload_device,
    soft_empty_cache,
    unload_model,
    weights_leave_gpu_after_use,
)


def tensor_bytes(module: torch.nn.Module, extra: tuple[torch.Tensor, ...] = ()) -> int:
    """Bytes of a module's parameters and buffers (each counted once), plus ``extra`` tensors."""
    seen, total = set(), 0
    for t in [*module.parameters(), *module.buffers(), *extra]:
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return total


class ManagedModule(torch.nn.Module):
    """What ComfyUI's ModelPatcher manages: the model as a child module (the core's model has read-only
    ``device``/``dtype`` properties, which the patcher would overwrite). Tensors named in
    ``tensor_attrs`` move and cast with it; ``owner.device`` (the face parser's) follows it."""

    def __init__(self, module: torch.nn.Module, tensor_attrs: tuple[str, ...] = (), owner=None):
        super().__init__()
        self.inner = module
        self._tensor_attrs = tuple(tensor_attrs)
        self._owner = owner

    def extra_tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(t for name in self._tensor_attrs
                     if isinstance(t := getattr(self.inner, name, None), torch.Tensor))

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for name in self._tensor_attrs:
            t = getattr(self.inner, name, None)
            if isinstance(t, torch.Tensor):
                setattr(self.inner, name, fn(t))
        if self._owner is not None and hasattr(self._owner, "device"):
            self._owner.device = self.weights_device()
        return self

    def weights_device(self) -> torch.device:
        for t in self.inner.parameters():
            return t.device
        return torch.device("cpu")

    def on(self, device: torch.device) -> bool:
        """True when every parameter, buffer and extra tensor is on ``device``."""
        device = torch.device(device)
        tensors = [*self.inner.parameters(), *self.inner.buffers(), *self.extra_tensors()]
        return all(_same_device(t.device, device) for t in tensors)

    def get_dtype(self) -> torch.dtype:
        for t in self.inner.parameters():
            return t.dtype
        return torch.float32


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cuda":
        return (a.index or 0) == (b.index or 0) if a.index is not None and b.index is not None else True
    return True


class StyleGANEXPatcher(ModelPatcher):
    """ComfyUI's ModelPatcher for one of our models: its size is what the wrapper reports, and it is
    unloaded whole or not at all (ComfyUI otherwise moves layers of a model to the CPU one by one to
    free part of its memory, which only works for ComfyUI's own layer types)."""

    def __init__(self, managed: ManagedModule, load_device: torch.device, offload: torch.device):
        super().__init__(managed, load_device=load_device, offload_device=offload,
                         size=tensor_bytes(managed.inner, managed.extra_tensors()))

    def partially_unload(self, device_to, memory_to_free=0, force_patch_weights=False):
        return 0  # frees nothing: ComfyUI then unloads the whole model


class Managed:
    """One model registered with ComfyUI's memory manager, and the block in which it computes."""

    def __init__(self, module: torch.nn.Module, device: torch.device, tensor_attrs: tuple[str, ...] = (),
                 owner=None):
        self.device = torch.device(device)
        self.module = ManagedModule(module, tensor_attrs, owner)
        self.patcher = StyleGANEXPatcher(self.module, self.device, offload_device())

    @property
    def size(self) -> int:
        return self.patcher.model_size()

    def load(self, memory_required: int = 0) -> None:
        """On its device, through the memory manager (a no-op when it is loaded already)."""
        with torch.inference_mode(False):  # weights stay normal tensors: the inversion differentiates
            load_models([self.patcher], memory_required=memory_required)
            if not self.module.on(self.device):
                # a model sharing modules with this one (Swap Generator) was moved off: load again
                unload_model(self.patcher)
                load_models([self.patcher], memory_required=memory_required)

    @contextlib.contextmanager
    def use(self, dtype: torch.dtype | None = None) -> Iterator[torch.nn.Module]:
        """The model on its device for the block (cast to ``dtype`` for the block if given; a cast to a
        wider type and back is exact). It stays loaded afterwards unless ComfyUI runs with --novram."""
        current = self.module.get_dtype()
        cast = dtype is not None and dtype != current
        extra = 0
        if cast:
            extra = tensor_bytes(self.module.inner) // current.itemsize * dtype.itemsize
        self.load(memory_required=extra)
        try:
            if cast:
                with torch.inference_mode(False):
                    self.module.to(dtype=dtype)
            yield self.module.inner
        finally:
            if cast:
                with torch.inference_mode(False):
                    self.module.to(dtype=current)
            if weights_leave_gpu_after_use() and self.device.type != "cpu":
                unload_model(self.patcher)
                soft_empty_cache()
