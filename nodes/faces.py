"""Face nodes: the StyleGANEX crop (+ FFHQ-aligned face) and face parsing."""

from __future__ import annotations

from ..styleganex import BATCH_MODES as CORE_BATCH_MODES
from ..styleganex import ORDERS, SELECT_MODES, InputError
from .compat import io
from .progress import Progress, cancellable
from .sockets import CATEGORY, CropType, ParserType, blocked
from .tensors import core_to_image, image_to_core

RULES = list(ORDERS)
SELECT = list(SELECT_MODES)
BATCH_MODES = list(CORE_BATCH_MODES)
NO_FACE = ["error", "center crop", "skip image"]
NO_FACE_CORE = {"error": "error", "center crop": "center", "skip image": "skip"}


def _detector():
    try:
        from ..styleganex import default_detector
        det = default_detector()
        from ..styleganex import predictor_path
        predictor_path()  # fail here, with the install hint, rather than inside the loop
        import dlib  # noqa: F401
    except ImportError as e:
        raise ImportError("face detection needs dlib: pip install dlib-bin face-recognition-models "
                          f"(in ComfyUI's Python) and restart ComfyUI ({e})") from e
    return det


class FaceCrop(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXFaceCrop",
            display_name="Face Crop (StyleGANEX)",
            category=f"{CATEGORY}/faces",
            description="Find the faces (dlib, offline) and cut the StyleGANEX crop of each chosen one: the frame is "
                        "rescaled so the eyes are 64 px apart and a box of +-padding px around them is cut (sides "
                        "multiples of 8, 512x512 at most with the official padding 256). Also gives the 256x256 "
                        "FFHQ-aligned faces (the encoder's w+ input), the crop info for pasting every face back into "
                        "its photo, and a preview: the photo with every face numbered (the index map; green = "
                        "chosen, red = unusable, with the reason). Crops of different sizes are brought to one size "
                        "(more of the photo around the face, or edge padding) for the IMAGE batch.",
            inputs=[
                io.Image.Input("image", tooltip="the photo(s); a batch is processed photo by photo"),
                io.Int.Input("padding", default=256, min=32, max=1024, step=8,
                             tooltip="pixels kept around the eyes in the rescaled frame (official: 256)"),
                io.Combo.Input("face", options=RULES, default="largest",
                               tooltip="how faces are ranked for select 'one' and max_faces: largest box, highest "
                                       "detector score, nearest the image centre, or left to right"),
                io.Int.Input("face_index", default=0, min=0, max=63,
                             tooltip="select 'one': 0 = the best face by that rule, 1 = the next one, ..."),
                io.Combo.Input("batch_mode", options=BATCH_MODES, default="each image",
                               tooltip="each image: faces per image; first image for all: the crops and aligned "
                                       "faces of image 0 for every image (video frames)"),
                io.Combo.Input("if_no_face", options=NO_FACE, default="error",
                               tooltip="an image without a usable face: error = stop the nodes after this one "
                                       "with the reason (the preview still shows the faces and why); center crop "
                                       "= crop the middle instead; skip image = leave it out (it pastes back "
                                       "unchanged)"),
                io.Combo.Input("select", options=SELECT, default="one", optional=True,
                               tooltip="one: the face chosen by face/face_index (the release); all: every usable "
                                       "face; indices: the faces numbered in 'indices' (numbers of the preview)"),
                io.String.Input("indices", default="", optional=True,
                                tooltip="select 'indices': index-map numbers and ranges, e.g. 0,2 or 0-2 (faces are "
                                        "numbered left to right; see the preview output)"),
                io.Int.Input("max_faces", default=0, min=0, max=256, optional=True,
                             tooltip="select 'all': at most this many faces, the first by the face rule (0 = all)"),
                io.Int.Input("min_face_size", default=0, min=0, max=4096, optional=True,
                             tooltip="faces whose detector box is narrower than this (pixels) are not used"),
                io.Float.Input("min_score", default=0.0, min=-10.0, max=10.0, step=0.05, optional=True,
                               tooltip="faces whose dlib detector score is below this are not used (false "
                                       "detections score low, about 0.1; clear faces about 1)"),
            ],
            outputs=[
                io.Image.Output(display_name="crop", tooltip="one crop per chosen face, all of one size"),
                io.Image.Output(display_name="aligned", tooltip="the 256x256 FFHQ-aligned faces (w+)"),
                CropType.Output(display_name="crop_info",
                                tooltip="where each crop came from: Decode pastes every face back into its photo"),
                io.Image.Output(display_name="preview",
                                tooltip="the photos with every face boxed and numbered (the index map): green = "
                                        "chosen, yellow = not chosen, red = unusable with the reason"),
            ],
        )

    @classmethod
    def validate_inputs(cls, select="one", indices=""):
        from ..styleganex import FaceSelection

        if select == "indices":
            try:
                FaceSelection.from_choice(select, indices)
            except InputError as e:
                return f"Face Crop: {e}"
        return True

    @classmethod
    def execute(cls, image, padding=256, face="largest", face_index=0, batch_mode="each image",
                if_no_face="error", select="one", indices="", max_faces=0, min_face_size=0,
                min_score=0.0) -> io.NodeOutput:
        from ..styleganex import FaceSelection, NoFaceError, crop_faces

        frames = image_to_core(image)
        try:
            selection = FaceSelection.from_choice(select, indices, order=face, index=int(face_index),
                                                  max_faces=int(max_faces), min_size=float(min_face_size),
                                                  min_score=float(min_score))
        except InputError as e:
            raise InputError(f"Face Crop: {e}") from None
        progress = Progress(frames.shape[0])
        with cancellable():
            found = crop_faces(frames, selection, detector=_detector(), padding=int(padding),
                               if_no_face=NO_FACE_CORE[if_no_face], first_for_all=batch_mode == BATCH_MODES[1],
                               progress=progress, cancel=progress.cancel)
        preview = core_to_image(found.preview)
        if found.group is None:
            message = (f"Face Crop: {found.problem}. See the preview output: faces are numbered left to right, the "
                       "unusable ones marked with the reason. Choose other faces, use a photo with a clearer "
                       "frontal face, or set if_no_face to 'center crop' or 'skip image'.")
            stop = blocked(message, NoFaceError)
            return io.NodeOutput(stop, stop, stop, preview)
        group = found.group
        return io.NodeOutput(core_to_image(group.crops), core_to_image(group.aligned),
                             group.crop, preview)


class FaceParse(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXFaceParse",
            display_name="Face Parse (StyleGANEX)",
            category=f"{CATEGORY}/faces",
            description="Parse faces into the 19 BiSeNet classes. Outputs the colour mask (CelebAMask-HQ colours) "
                        "and the label mask (MASK whose value is class id / 255, i.e. saved as a grey PNG each "
                        "pixel is the class id, as the release's label images). Feed either to Sketch/Mask to Face.",
            inputs=[
                ParserType.Input("parser", tooltip="the face parser (Load Face Parser)"),
                io.Image.Input("image", tooltip="face crops (e.g. Face Crop's crop output)"),
                io.Combo.Input("resolution", options=["official (2x)", "512"], default="official (2x)",
                               tooltip="official: the network sees the image upsampled 2x; 512: a 512x512 resize "
                                       "(faster on large images)"),
            ],
            outputs=[
                io.Image.Output(display_name="mask_image",
                                tooltip="the parsing as a colour picture (CelebAMask-HQ colours)"),
                io.Mask.Output(display_name="labels",
                               tooltip="class id / 255 per pixel (19 classes): Sketch/Mask to Face's mask input"),
            ],
        )

    @classmethod
    def execute(cls, parser, image, resolution="official (2x)") -> io.NodeOutput:
        from ..styleganex import colorize

        frames = image_to_core(image)
        progress = Progress(frames.shape[0])
        with parser.on_device() as p, cancellable():
            labels = p.parse_each(frames, size=512 if resolution == "512" else None, progress=progress,
                                  cancel=progress.cancel)
        colour = colorize(labels)
        return io.NodeOutput(core_to_image(colour), labels.float() / 255.0)


NODES = [FaceCrop, FaceParse]
