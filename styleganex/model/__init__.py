"""Layer 1: the StyleGANEX network and its files, knowing nothing of faces, image files or front ends.

>>> from styleganex.model import load_model
>>> model = load_model("models/styleganex/styleganex_inversion.pt")
>>> frame, aligned = torch.zeros(1, 3, 64, 80), torch.zeros(1, 3, 256, 256)  # in -1..1; frame sides multiples of 8
>>> latent = model.encode(frame, aligned)      # w+ from the aligned face, f from the frame
>>> latent.wplus.shape[1], latent.f.shape[2:]  # 18 styles; f at 1/8 of the frame
(18, torch.Size([8, 10]))
>>> model.decode(latent).shape                 # 4x the frame for the 1024 models
torch.Size([1, 3, 256, 320])

- :mod:`~styleganex.model.ops` — equalised layers, FIR filters, modulated convolution;
- :mod:`~styleganex.model.config` — every width and option of a model (``ModelConfig``), the model kinds;
- :mod:`~styleganex.model.generator` — the StyleGANEX generator (dilated shallow layers, first-layer feature f);
- :mod:`~styleganex.model.encoder` — the pSp IR-SE50 encoder E (w+ and f, skip features, translation net);
- :mod:`~styleganex.model.network` — ``StyleGANEX``: E and G together (``encode``, ``decode``, ``forward``);
- :mod:`~styleganex.model.latent` — ``Latent``, the w+/f/noise/skips of a batch of frames;
- :mod:`~styleganex.model.padding` — the encoder's padding of frames to multiples of 8, and its undo;
- :mod:`~styleganex.model.checkpoints` — reading and writing official ``.pt`` and ``.safetensors`` files;
- :mod:`~styleganex.model.fast` — the fast-path switch (``STYLEGANEX_FAST``), the compiled hot paths, bf16 autocast;
- :mod:`~styleganex.model.kernels` — fused Triton kernels of the eager CUDA path (Triton imported on use).
"""

from .checkpoints import convert, load_generator, load_model, save_safetensors
from .config import ModelConfig
from .encoder import batch_statistics
from .generator import Generator
from .latent import Latent
from .network import StyleGANEX
from .padding import SizeRecord, make_size_valid, undo_size_valid

__all__ = ["Generator", "Latent", "ModelConfig", "SizeRecord", "StyleGANEX", "batch_statistics", "convert",
           "load_generator", "load_model", "make_size_valid", "save_safetensors", "undo_size_valid"]
