"""StyleGANEX in plain PyTorch: encoder, generator, checkpoints and pipelines.

    import styleganex
    model = styleganex.load_model("models/styleganex/styleganex_inversion.pt")
    latent = model.encode(frame, aligned)   # frame [B,3,H,W] in [-1,1], H, W multiples of 8
    image = model.decode(latent)            # [B,3,4H,4W] for the 1024 models
"""

from .base.errors import CheckpointError, StyleGANEXError
from .model import (
           Generator,
           Latent,
           ModelConfig,
           StyleGANEX,
           batch_statistics,
           convert,
           load_generator,
           load_model,
           save_safetensors,
)

__version__ = "0.1.0"

__all__ = ["CheckpointError", "StyleGANEXError", "Generator", "Latent", "ModelConfig", "StyleGANEX", "batch_statistics",
           "convert", "load_generator", "load_model", "save_safetensors", "__version__"]
