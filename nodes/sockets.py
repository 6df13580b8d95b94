"""The socket types of the pack (matched by name; never ComfyUI's LATENT) and the objects that travel on
them: a loaded model or face parser with where it computes, and the blocker that stops the nodes behind."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch

from ..styleganex import ModelKindError
from .compat import ExecutionBlocker, io
from .memory import Managed

CATEGORY = "StyleGANEX"

# ---- socket types (matched by name; never ComfyUI's LATENT) ---------------------------------------
ModelType = io.Custom("STYLEGANEX_MODEL")
LatentType = io.Custom("STYLEGANEX_LATENT")
CropType = io.Custom("STYLEGANEX_CROP")
ParserType = io.Custom("STYLEGANEX_PARSER")
VideoStateType = io.Custom("STYLEGANEX_VIDEO_STATE")


KIND_NODES = {"sr": "Super-Resolve", "sketch": "Sketch/Mask to Face", "mask": "Sketch/Mask to Face",
              "rgb": "Encode / Optimize Inversion / Video Edit"}


@dataclass(eq=False)
class StyleGANEXModel:
    """A loaded model plus where it computes. The model is registered with ComfyUI's memory manager
    (:mod:`.memory`) the first time a node uses it; :meth:`on_device` gives it on its device."""

    model: Any
    name: str
    device: torch.device
    dtype: torch.dtype
    _managed: Any = field(default=None, init=False, repr=False)

    @property
    def variant(self) -> str:
        return str(getattr(self.model, "variant", "custom"))

    @property
    def kind(self) -> str:
        """The core's model kind: 'rgb', 'sr', 'sketch' or 'mask'."""
        return self.model.kind

    def describe(self) -> str:
        return f"'{self.name}' (a {self.variant} model)"

    def require(self, node: str, kinds: tuple[str, ...]) -> None:
        """The core's kind check, with the node that takes this model added to the message."""
        try:
            self.model.require_kind(*kinds, task=node)
        except ModelKindError as e:
            raise ModelKindError(f"{e}. Load the right checkpoint, or connect {self.describe()} to the "
                                 f"'{KIND_NODES[self.kind]}' node instead.") from None

    @property
    def managed(self) -> Managed:
        """This model in ComfyUI's memory manager (``managed.patcher`` is its ModelPatcher)."""
        if self._managed is None:
            self._managed = Managed(self.model, self.device, tensor_attrs=("editing_w",))
        return self._managed

    @contextlib.contextmanager
    def on_device(self, dtype: torch.dtype | None = None):
        """The model on its compute device for the block (loaded through ComfyUI's memory manager, which
        keeps it there between runs while memory allows), cast to ``dtype`` for the block if given."""
        with self.managed.use(dtype) as model:
            yield model


@dataclass(eq=False)
class FaceParserHandle:
    parser: Any
    name: str
    device: torch.device
    _managed: Any = field(default=None, init=False, repr=False)

    @property
    def managed(self) -> Managed:
        if self._managed is None:
            self._managed = Managed(self.parser.model, self.device, owner=self.parser)
        return self._managed

    @contextlib.contextmanager
    def on_device(self):
        with self.managed.use():
            yield self.parser


def blocked(message: str, error: type[Exception]):
    """An output that stops every node connected to it with ``message`` (ComfyUI's ExecutionBlocker),
    so other outputs (a preview) still reach theirs; without ExecutionBlocker, ``error(message)`` is raised."""
    if ExecutionBlocker is None:  # pragma: no cover
        raise error(message)
    return ExecutionBlocker(message)


