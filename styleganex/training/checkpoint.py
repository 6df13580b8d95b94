"""Training outputs: the model file in the release's layout, and the resume state beside it.

``DIR/last.pt`` (and ``DIR/best.pt``) hold exactly what the release's ``Coach.__get_save_dict`` saves::

    {"state_dict": {"encoder.*", "decoder.*"}, "opts": {every training option},
     "latent_avg": [n_latent, S], "editing_w": [K, n_latent, S] (video_edit only),
     "discriminator": {...} (when the adversarial loss trains one)}

so the file loads with :func:`styleganex.load_model` and in the release's own inference scripts
(``pSp(Namespace(**opts))``). ``DIR/resume.pt`` holds what continuing needs: the step, the options,
the encoder/model state, the optimiser(s), the discriminator, the best validation loss and the random
state. Both are written with :func:`styleganex.base.outputs.write_all`: all files of a save appear
together, or none (an interrupt or a full disk leaves the previous ones intact).
Everything is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..base.catalogue import RESUME_FILE
from ..base.errors import CheckpointError
from ..base.filetypes import torch_load_message
from ..base.outputs import write_all
from ..model import StyleGANEX

RESUME_FORMAT = "styleganex-train-resume"
RESUME_VERSION = 1
LAST, BEST, RESUME, LOG = "last.pt", "best.pt", RESUME_FILE, "train_log.jsonl"


def released_dict(model: StyleGANEX, opts: dict, discriminator=None) -> dict:
    """The release's checkpoint dict of ``model`` (tensors copied to the CPU)."""
    cpu = lambda t: t.detach().to("cpu").clone()  # noqa: E731
    sd = {k: cpu(v) for k, v in model.state_dict().items() if k != "latent_avg"}
    out = {"state_dict": sd, "opts": dict(opts), "latent_avg": cpu(model.latent_avg)}
    if model.editing_w is not None:
        out["editing_w"] = cpu(model.editing_w).float()
    if discriminator is not None:
        out["discriminator"] = {k: cpu(v) for k, v in discriminator.state_dict().items()}
    return out


def _saver(obj):
    return lambda tmp: torch.save(obj, tmp)


def save_outputs(folder, files: dict) -> None:
    """Write ``{file name: object}`` into ``folder`` with ``torch.save``, all together or none."""
    folder = Path(folder)
    write_all([(folder / name, _saver(obj)) for name, obj in files.items()])


def read_resume(folder) -> dict:
    """The resume state of a training folder (``DIR/resume.pt``), checked for its format."""
    path = Path(folder) / RESUME
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a training folder to resume: it has no {RESUME}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated or not a weights-only file
        raise CheckpointError(torch_load_message(path, e)) from e
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path} is not a resume state of this package")
    if int(state.get("version", 0)) > RESUME_VERSION:
        raise CheckpointError(f"{path} was written by a newer version (resume format {state.get('version')})")
    for key in ("step", "opts", "model", "optimizer"):
        if key not in state:
            raise CheckpointError(f"{path} lacks '{key}'")
    return state
