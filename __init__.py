"""ComfyUI entry point of the StyleGANEX node pack (V3 API: ``comfy_entrypoint``).

ComfyUI imports this folder as a package and awaits ``comfy_entrypoint()``. Nothing here imports
ComfyUI or torch at import time, so the folder also imports where ComfyUI is absent; the core
library is the ``styleganex`` package beside this file (``import styleganex`` is unaffected).
No ``NODE_CLASS_MAPPINGS`` is exported: it would make ComfyUI ignore ``comfy_entrypoint``.
"""


async def comfy_entrypoint():
    from .nodes import comfy_entrypoint as entry

    return await entry()
