"""ComfyUI V3 nodes of the StyleGANEX pack: thin adapters over the ``styleganex`` core.

Imported only by ComfyUI (through the pack's ``comfy_entrypoint``); it needs ComfyUI's modules,
which :mod:`.compat` imports.
"""

from __future__ import annotations

from .compat import ComfyExtension, io
from .folders import register_folders

_MODULES = ("loaders", "faces", "encode_decode", "edit", "latent_files", "translate", "video", "training")


def node_list() -> list[type[io.ComfyNode]]:
    import importlib

    nodes = []
    for name in _MODULES:
        module = importlib.import_module(f".{name}", __name__)
        nodes.extend(module.NODES)
    return nodes


class StyleGANEXExtension(ComfyExtension):
    async def on_load(self) -> None:
        register_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return node_list()


async def comfy_entrypoint() -> StyleGANEXExtension:
    register_folders()
    return StyleGANEXExtension()
