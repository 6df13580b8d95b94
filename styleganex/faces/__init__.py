"""The face front end: find a face, crop it the StyleGANEX way, align it FFHQ-style, paste results back.

>>> from styleganex.images import load_image
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

Images are float32 tensors in 0..1 (the model wants -1..1: convert with ``x * 2 - 1``). Points are
``(x, y)`` pixels with pixel centres at whole numbers.
"""

from ..errors import FaceError, FaceTooSmallError, NoFaceError
from .align import Alignment, align_face, ffhq_alignment, ffhq_quad
from .crop import DEFAULT_PADDING, EYE_DISTANCE, CropRecord, apply_crop, center_crop, crop_record, styleganex_crop
from .crops import BATCH_MODES, CropInfo
from .demo import demo_figure
from .detect import FaceDetector, default_detector, detect_face, redetect_face
from .dlib_detector import DlibDetector, predictor_path
from .face import MIN_EYE_DISTANCE, Face, select_face
from .group import FoundFaces, PreparedGroup, crop_faces, prepare_group, scan_images
from .paste import ColourTransform, Pasted, PasteOptions, paste_back, paste_face
from .prepare import IF_NO_FACE, LANDMARK_SOURCES, PreparedFace, align_crop, prepare_center, prepare_face
from .preprocess import SizeRecord, gaussian_preblur, make_size_valid, preblur_sigma, undo_size_valid
from .preview import draw_index_map
from .select import FaceCandidate, FaceScan, FaceSelection, face_problem, scan_faces
from .tracks import FaceTracker, Track, TrackedFace, VideoState
from .video import VideoCropper, fixed_size_record

__all__ = [
    "Alignment", "BATCH_MODES", "CropInfo", "CropRecord", "DEFAULT_PADDING", "DlibDetector", "EYE_DISTANCE", "Face",
    "FaceDetector", "FaceError", "FoundFaces", "FaceTooSmallError", "IF_NO_FACE", "LANDMARK_SOURCES", "MIN_EYE_DISTANCE",
    "NoFaceError", "PreparedFace", "SizeRecord", "VideoCropper", "align_crop", "align_face", "apply_crop",
    "center_crop", "crop_faces", "crop_record", "default_detector", "demo_figure", "detect_face", "ffhq_alignment", "ffhq_quad",
    "fixed_size_record", "gaussian_preblur", "make_size_valid", "paste_back", "preblur_sigma", "predictor_path",
    "prepare_center", "prepare_face", "redetect_face", "select_face", "styleganex_crop",
    "undo_size_valid",
    "ColourTransform", "FaceCandidate", "FaceScan", "FaceSelection", "FaceTracker", "PasteOptions", "Pasted",
    "PreparedGroup", "Track", "TrackedFace", "VideoState", "draw_index_map", "face_problem", "paste_face",
    "prepare_group", "scan_images", "scan_faces",
]
