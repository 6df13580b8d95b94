"""Face parsing with the BiSeNet of the StyleGANEX release (``faceparsing.pth``, 19 classes).

StyleGANEX's mask-to-face pipeline turns a photo into a 19-class parsing map with the BiSeNet face
parser of *face-parsing.PyTorch* trained on CelebAMask-HQ. One job per module:

- :mod:`~styleganex.faces.parsing.labels` — the 19 class ids, their CelebAMask-HQ colours, label maps,
  one-hot maps and mask images;
- :mod:`~styleganex.faces.parsing.network` — the network (``BiSeNet``), with the release's key names;
- :mod:`~styleganex.faces.parsing.weights` — what ``faceparsing.pth`` holds (the key manifest) and
  reading it safely;
- :mod:`~styleganex.faces.parsing.parser` — ``FaceParser``: the official pre-processing, logits, labels.

``from styleganex.faces.parsing import FaceParser, NUM_CLASSES, labels_to_onehot`` gives the public names.
"""

from .labels import (
    CELEBAMASK_HQ_COLORS,
    FACE_PARSING_CLASSES,
    NUM_CLASSES,
    PALETTE,
    colorize,
    label_image_to_labels,
    labels_to_onehot,
    onehot_to_labels,
    validate_labels,
)
from .network import BiSeNet
from .parser import IMAGENET_MEAN, IMAGENET_STD, FaceParser
from .weights import KEY_MANIFEST_PATH, load_bisenet, state_dict_manifest

__all__ = [
    "NUM_CLASSES",
    "FACE_PARSING_CLASSES",
    "CELEBAMASK_HQ_COLORS",
    "PALETTE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KEY_MANIFEST_PATH",
    "BiSeNet",
    "FaceParser",
    "labels_to_onehot",
    "onehot_to_labels",
    "label_image_to_labels",
    "colorize",
    "validate_labels",
    "load_bisenet",
    "state_dict_manifest",
]
