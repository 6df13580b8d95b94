"""The face front end: find a face, crop it the StyleGANEX way, align it FFHQ-style, paste results back.

>>> from styleganex.io.images import load_image
>>> frame = load_image("photo.jpg")                    # [3, H, W] in 0..1
>>> prepared = prepare_face(frame)                     # dlib, offline; NoFaceError if none
>>> prepared.crop.shape[0], prepared.aligned.shape     # crop [3, h, w] (h, w multiples of 8) and x~
(3, torch.Size([3, 256, 256]))
>>> output = torch.nn.functional.interpolate(prepared.crop[None], scale_factor=4)[0]  # the model's output
>>> paste_back(frame, output, prepared.record).shape   # [3, H, W]
torch.Size([3, 512, 512])

``prepare_face`` is the release's pre-processing step by step (crop with ``cv2.resize``'s bilinear,
landmarks detected again on the crop, FFHQ alignment with the release's arithmetic); the pieces
(``detect_face``, ``styleganex_crop``, ``align_crop``, ``align_face``) are there for other uses.

The modules, in the order a photo meets them:

- :mod:`~styleganex.faces.face` — ``Face`` (box, landmarks, score) and ranking faces;
- :mod:`~styleganex.faces.detect` and :mod:`~styleganex.faces.dlib_detector` — the detector protocol, dlib HOG +
  68 landmarks offline;
- :mod:`~styleganex.faces.select` — the index map (left to right), ``FaceSelection``, why a face cannot be used;
- :mod:`~styleganex.faces.preview` — the photo with every face numbered;
- :mod:`~styleganex.faces.crop_record` — one StyleGANEX crop (``CropRecord``: eyes 64 px apart, padding,
  multiples of 8);
- :mod:`~styleganex.faces.crop_info` — ``CropInfo``: the crops of a batch, saved in latents, for paste-back;
- :mod:`~styleganex.faces.align` — FFHQ alignment; :mod:`~styleganex.faces.resample` pixel-exact warps and
  resizes; :mod:`~styleganex.faces.preblur` the blur before downsampling;
- :mod:`~styleganex.faces.prepare` — ``prepare_face``: the release's pre-processing step by step;
- :mod:`~styleganex.faces.group` — several faces per photo (one crop per face, one size);
- :mod:`~styleganex.faces.paste` — paste-back with face/head/crop masks, feather and colour matching;
- :mod:`~styleganex.faces.video_crop` and :mod:`~styleganex.faces.tracks` — the crops of a video, faces tracked
  through it (``FaceTracker``, ``VideoState`` across chunks); :mod:`~styleganex.faces.motion` a face's motion
  between frames (a similarity fitted to landmarks, refined on the grey levels);
- :mod:`~styleganex.faces.parsing` — the BiSeNet face parser (``faceparsing.pth``), label maps and colours
  (a subpackage: labels, network, weights, parser).

Images are float32 tensors in 0..1 (the model wants -1..1: convert with ``x * 2 - 1``). Points are
``(x, y)`` pixels with pixel centres at whole numbers.
"""

from ..base.errors import FaceError, FaceTooSmallError, NoFaceError
from ..model.padding import SizeRecord, make_size_valid, undo_size_valid
from .align import Alignment, align_face, ffhq_alignment, ffhq_quad
from .crop_info import BATCH_MODES, CropInfo
from .crop_record import (
    DEFAULT_PADDING,
    EYE_DISTANCE,
    CropRecord,
    apply_crop,
    center_crop,
    crop_record,
    styleganex_crop,
)
from .detect import FaceDetector, default_detector, detect_face, redetect_face
from .dlib_detector import DlibDetector, predictor_path
from .face import MIN_EYE_DISTANCE, Face, select_face
from .group import FoundFaces, PreparedGroup, crop_faces, prepare_group, scan_images
from .paste import ColourTransform, Pasted, PasteOptions, paste_back, paste_face
from .preblur import gaussian_preblur, preblur_sigma
from .prepare import IF_NO_FACE, LANDMARK_SOURCES, PreparedFace, align_crop, prepare_center, prepare_face
from .preview import draw_index_map
from .select import FaceCandidate, FaceScan, FaceSelection, face_problem, scan_faces
from .tracks import FaceTracker, Track, TrackedFace, VideoState
from .video_crop import VideoCropper, fixed_size_record

__all__ = [
    "Alignment", "BATCH_MODES", "CropInfo", "CropRecord", "DEFAULT_PADDING", "DlibDetector", "EYE_DISTANCE", "Face",
    "FaceDetector", "FaceError", "FoundFaces", "FaceTooSmallError", "IF_NO_FACE", "LANDMARK_SOURCES",
    "MIN_EYE_DISTANCE",
    "NoFaceError", "PreparedFace", "SizeRecord", "VideoCropper", "align_crop", "align_face", "apply_crop",
    "center_crop", "crop_faces", "crop_record", "default_detector", "detect_face", "ffhq_alignment", "ffhq_quad",
    "fixed_size_record", "gaussian_preblur", "make_size_valid", "paste_back", "preblur_sigma", "predictor_path",
    "prepare_center", "prepare_face", "redetect_face", "select_face", "styleganex_crop",
    "undo_size_valid",
    "ColourTransform", "FaceCandidate", "FaceScan", "FaceSelection", "FaceTracker", "PasteOptions", "Pasted",
    "PreparedGroup", "Track", "TrackedFace", "VideoState", "draw_index_map", "face_problem", "paste_face",
    "prepare_group", "scan_images", "scan_faces",
]
