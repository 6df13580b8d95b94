"""The one catalogue of files the project knows by name: the official release's files, where they are
published and under which licence, and the other weights users put in the models folder.

Nothing here is downloaded by the library: the opt-in download is :func:`styleganex.io.paths.fetch_official`.

>>> is_generator_file("styleganex_inversion.pt"), is_generator_file("faceparsing.pth")
(True, False)
"""

from __future__ import annotations

from pathlib import PurePosixPath

HUB_REPO = "PKUWilliamYang/StyleGANEX"
"""The Hugging Face hub repository of the official release."""
HUB_FOLDER = "pretrained_models"
"""Its folder of weights."""
HUB_FILES_URL = f"https://huggingface.co/{HUB_REPO}/resolve/main/{HUB_FOLDER}/"
"""Download address of one official file: this + the file name."""
WEIGHTS_URL = f"https://huggingface.co/{HUB_REPO}/tree/main/{HUB_FOLDER}"
"""Where users browse the official weights."""
LICENSE_NOTE = "official weights: S-Lab License 1.0 (non-commercial use only)"
"""The licence of every official file, said wherever one is offered."""

PARSER_FILE = "faceparsing.pth"
"""The release's BiSeNet face parser (19 classes)."""
OFFICIAL_FILES = (
    "styleganex_inversion.pt", "styleganex_sr.pt", "styleganex_sr32.pt", "styleganex_sketch2face.pt",
    "styleganex_mask2face.pt", "styleganex_edit_age.pt", "styleganex_edit_hair.pt",
    "styleganex_toonify_cartoon.pt", "styleganex_toonify_arcane.pt", "styleganex_toonify_pixar.pt",
    PARSER_FILE,
)
"""Every file of the release's ``pretrained_models`` folder."""

DIRECTIONS_FILE = "direction_dics.pt"
"""The web demo's named directions (smile, open_eye, ...), at the top of the hub repository."""
DIRECTIONS_URL = f"https://huggingface.co/{HUB_REPO}/resolve/main/{DIRECTIONS_FILE}"
DIRECTIONS_LICENSE = ("published with the official StyleGANEX weights (S-Lab License 1.0, non-commercial); "
                      "see the hub repository's licence")

VGG_FILE = "vgg16-397923af.pth"
"""torchvision's ImageNet VGG16, the backbone of LPIPS (inversion, training)."""
VGG_URL = f"https://download.pytorch.org/models/{VGG_FILE}"
ALEX_FILE = "alexnet-owt-7be5be79.pth"
"""torchvision's ImageNet AlexNet, the trunk of the LPIPS the release trains and evaluates with."""
ALEX_URL = f"https://download.pytorch.org/models/{ALEX_FILE}"
IDENTITY_FILE = "model_ir_se50.pth"
"""pSp's ArcFace IR-SE50 weights, for the identity loss and metric."""

NADA_REPO = "https://huggingface.co/rinong/stylegan-nada-models"
NADA_GENERATORS = ("disney_princess", "vintage_comics", "pixar", "edvard_munch", "modigliani")
"""StyleGAN-NADA generators the official web demo offers for domain transfer: ``<name>.pt`` (holding
``g_ema``) from :data:`NADA_REPO`; load with ``styleganex.load_generator``."""
NADA_LICENSE = "StyleGAN-NADA code is MIT; for the models see the hub repository's licence"

CHECKPOINT_EXTENSIONS = (".pt", ".pth", ".safetensors", ".bin")
"""File name suffixes of model weights that the models folder lists."""
RESUME_FILE = "resume.pt"
"""A training run's resume state (optimisers, discriminator, step, RNG), beside its model file."""
AUXILIARY_FILES = (PARSER_FILE, VGG_FILE, ALEX_FILE, IDENTITY_FILE, RESUME_FILE)
"""Weights in the models folder that are no StyleGANEX model or generator."""


def is_generator_file(name: str) -> bool:
    """Whether a file of the models folder (a relative name) may hold a StyleGANEX model or a generator:
    not a direction file (``directions/``), not one of :data:`AUXILIARY_FILES` (or a copy named after one)."""
    path = PurePosixPath(name.replace("\\", "/").lower())
    if path.parts and path.parts[0] == "directions":
        return False
    return not any(path.name.startswith(PurePosixPath(aux).stem.split("-")[0]) for aux in AUXILIARY_FILES)
