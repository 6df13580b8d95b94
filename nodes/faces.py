"""Face nodes: the StyleGANEX crop (+ FFHQ-aligned face) and face parsing."""

from __future__ import annotations

import torch

from ..styleganex.errors import InputError
from ..styleganex.faces.crops import BATCH_MODES as CORE_BATCH_MODES
from ..styleganex.faces.face import RULES as FACE_RULES
from .common import CATEGORY, CropType, ParserType, Progress, cancellable, core_to_image, image_to_core
from .compat import io

RULES = list(FACE_RULES)
BATCH_MODES = list(CORE_BATCH_MODES)
NO_FACE = ["error", "center crop"]


def _detector():
    try:
        from ..styleganex.faces import default_detector
        det = default_detector()
        from ..styleganex.faces.dlib_detector import predictor_path
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
            description="Find the face (dlib, offline) and cut the StyleGANEX crop: the frame is rescaled so the "
                        "eyes are 64 px apart and a box of +-padding px around them is cut (sides multiples of 8, "
                        "512x512 at most with the official padding 256). Also gives the 256x256 FFHQ-aligned face "
                        "(the encoder's w+ input) and the crop record for pasting results back.",
            inputs=[
                io.Image.Input("image", tooltip="photo(s) or video frames with a face (IMAGE batch)"),
                io.Int.Input("padding", default=256, min=32, max=1024, step=8,
                             tooltip="pixels kept around the eyes in the rescaled frame (official: 256)"),
                io.Combo.Input("face", options=RULES, default="largest",
                               tooltip="which face when there are several: largest box, highest detector "
                                       "score, or nearest the image centre"),
                io.Int.Input("face_index", default=0, min=0, max=63,
                             tooltip="0 = the best face by that rule, 1 = the next one, ..."),
                io.Combo.Input("batch_mode", options=BATCH_MODES, default="each image",
                               tooltip="each image: a face per image (crops must come out the same size); "
                                       "first image for all: the crop and aligned face of image 0 for every "
                                       "image (video frames)"),
                io.Combo.Input("if_no_face", options=NO_FACE, default="error",
                               tooltip="center crop: crop the middle instead (no aligned face: the aligned "
                                       "output is then a 256x256 resize of the crop)"),
            ],
            outputs=[
                io.Image.Output(display_name="crop",
                                tooltip="the StyleGANEX crop: the face with its surroundings, sides multiples of 8"),
                io.Image.Output(display_name="aligned",
                                tooltip="the 256x256 FFHQ-aligned face (the encoder's w+ input)"),
                CropType.Output(display_name="crop_info",
                                tooltip="where the crop came from: for pasting results back into the photo"),
            ],
        )

    @classmethod
    def execute(cls, image, padding=256, face="largest", face_index=0, batch_mode="each image",
                if_no_face="error") -> io.NodeOutput:
        from ..styleganex.faces import CropInfo, NoFaceError, prepare_faces

        frames = image_to_core(image)
        options = dict(detector=_detector(), rule=face, index=int(face_index), padding=int(padding),
                       if_no_face="center" if if_no_face == "center crop" else "error")
        progress = Progress(frames.shape[0])
        try:
            with cancellable():
                prepared = prepare_faces(frames, first_for_all=batch_mode == BATCH_MODES[1], progress=progress,
                                         cancel=progress.cancel, **options)
        except NoFaceError as e:
            raise NoFaceError(f"Face Crop: {e}. Use a photo with a clearly visible frontal face, or set if_no_face "
                              "to 'center crop'.") from None
        sizes = sorted({tuple(p.crop.shape[-2:]) for p in prepared})
        if len(sizes) > 1:
            raise InputError(
                f"Face Crop: the faces of this batch give crops of different sizes {sizes}, and an IMAGE batch "
                f"needs one size. Set batch_mode to 'first image for all' (video frames), or crop the images "
                f"one at a time.")
        info = CropInfo.from_prepared(prepared, int(padding), batch_mode, frames)
        return io.NodeOutput(core_to_image(torch.stack([p.crop for p in prepared]), signed=False),
                             core_to_image(torch.stack([p.aligned for p in prepared]), signed=False), info)


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
        from ..styleganex.parsing import colorize

        frames = image_to_core(image)
        progress = Progress(frames.shape[0])
        labels = []
        with parser.on_device() as p:
            for b in range(frames.shape[0]):
                progress.step(b)
                if resolution == "512":
                    lab = p.parse(frames[b:b + 1], size=512)
                else:
                    lab = p.parse(frames[b:b + 1])
                labels.append(lab.cpu())
                progress(b + 1)
        labels = torch.cat(labels)
        colour = colorize(labels)
        return io.NodeOutput(core_to_image(colour, signed=False), labels.float() / 255.0)


NODES = [FaceCrop, FaceParse]
