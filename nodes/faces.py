"""Face nodes: the StyleGANEX crop (+ FFHQ-aligned face) and face parsing."""

from __future__ import annotations

import torch

from .common import CATEGORY, CropInfo, CropType, ParserType, Progress, core_to_image, image_to_core
from .compat import io

RULES = ["largest", "score", "center"]
BATCH_MODES = ["each image", "first image for all"]
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
                io.Image.Input("image"),
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
                io.Image.Output(display_name="crop"),
                io.Image.Output(display_name="aligned"),
                CropType.Output(display_name="crop_info"),
            ],
        )

    @classmethod
    def execute(cls, image, padding=256, face="largest", face_index=0, batch_mode="each image",
                if_no_face="error") -> io.NodeOutput:
        from ..styleganex import faces as fc

        frames = image_to_core(image)
        det = _detector()
        progress = Progress(frames.shape[0])
        crops, aligned, records, found = [], [], [], []
        for b in range(frames.shape[0]):
            frame = frames[b]
            if batch_mode == "first image for all" and b > 0:
                crops.append(fc.apply_crop(frame, records[0]))
                records.append(records[0])
                found.append(found[0])
                aligned.append(aligned[0])
                progress.step(b + 1)
                continue
            try:
                f = fc.detect_face(frame, det, rule=face, index=face_index)
            except fc.NoFaceError as e:
                if if_no_face != "center crop":
                    raise fc.NoFaceError(
                        f"Face Crop: no face found in image {b} of the batch ({frame.shape[2]}x{frame.shape[1]} px). "
                        f"Use a photo with a clearly visible frontal face (eyes at least "
                        f"{fc.MIN_EYE_DISTANCE:g} px apart), or set if_no_face to 'center crop'.") from e
                f = None
            except ValueError as e:  # e.g. face_index past the number of faces
                raise ValueError(f"Face Crop, image {b}: {e}") from e
            if f is None:
                crop, record = fc.center_crop(frame, 2 * padding)
                al = torch.nn.functional.interpolate(crop[None], size=(256, 256), mode="bilinear",
                                                     antialias=True, align_corners=False)[0]
            else:
                crop, record = fc.styleganex_crop(frame, f, padding)
                al = fc.align_face(crop, record.face_in_crop(f), 256)
            crops.append(crop)
            aligned.append(al.clamp(0, 1))
            records.append(record)
            found.append(f)
            progress.step(b + 1)
        sizes = sorted({tuple(c.shape[-2:]) for c in crops})
        if len(sizes) > 1:
            raise ValueError(
                f"Face Crop: the faces of this batch give crops of different sizes {sizes}, and an IMAGE batch "
                f"needs one size. Set batch_mode to 'first image for all' (video frames), or crop the images "
                f"one at a time.")
        info = CropInfo(records=records, faces=found, frames=frames, padding=int(padding), mode=batch_mode)
        return io.NodeOutput(core_to_image(torch.stack(crops), signed=False),
                             core_to_image(torch.stack(aligned), signed=False), info)


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
                ParserType.Input("parser"),
                io.Image.Input("image", tooltip="face crops (e.g. Face Crop's crop output)"),
                io.Combo.Input("resolution", options=["official (2x)", "512"], default="official (2x)",
                               tooltip="official: the network sees the image upsampled 2x; 512: a 512x512 resize "
                                       "(faster on large images)"),
            ],
            outputs=[
                io.Image.Output(display_name="mask_image"),
                io.Mask.Output(display_name="labels"),
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
