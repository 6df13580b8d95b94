"""Video editing and toonification of an IMAGE batch (the frames, in order)."""

from __future__ import annotations

import torch

from ..styleganex import CROP_FEATHER, MASK_SHAPES, VIDEO_CROP_MODES, InputError
from .compat import io
from .progress import Progress, cancellable
from .sockets import CATEGORY, ModelType, VideoStateType
from .tensors import core_to_image, image_to_core

CROP_MODES = list(VIDEO_CROP_MODES)


def _run(node: str, model, frames, editing_scale, crop, padding, chunk_size, paste_back, feather, faces="largest",
         mask="face", erode=0.0, colour_match=True, smoothing=0.8, state=None):
    from ..styleganex import faces as fc
    from ..styleganex import process_video

    x01 = image_to_core(frames, "frames")
    total = x01.shape[0]
    progress = Progress(total)
    outs, masks = [], []
    tracked = bool(paste_back) and crop != "none"
    new_state = None
    options = dict(editing_scale=editing_scale, crop=crop, chunk_size=int(chunk_size), paste_back=bool(paste_back),
                   progress=progress, cancel=progress.cancel, total=total, feather=float(feather),
                   padding=int(padding))
    if tracked:  # every chosen face, tracked, with a state for the next chunk (ComfyUI may run this again)
        new_state = state.copy() if state is not None else fc.VideoState()
        options.update(faces=fc.FaceSelection.parse(faces), state=new_state,
                       paste=fc.PasteOptions(mask, float(feather), float(erode), bool(colour_match)),
                       smoothing=float(smoothing))
    with model.on_device() as m, cancellable():
        try:
            for out in process_video(m, x01, **options):
                outs.append(out.frame.to("cpu", torch.float32))
                masks.append(out.mask[0].to("cpu", torch.float32))
        except fc.NoFaceError as e:
            raise fc.NoFaceError(f"{node}: {e}") from e
    return io.NodeOutput(core_to_image(torch.stack(outs)), torch.stack(masks),
                         new_state if new_state is not None else state)


def _common_inputs(mask: str = "face", colour: bool = True):
    return [
        io.Combo.Input("crop", options=CROP_MODES, default="first",
                       tooltip="first: the face of frame 0 gives one crop for all frames (official); track: a crop of "
                               "that size follows the face; none: whole frames"),
        io.Int.Input("padding", default=256, min=32, max=1024, step=8,
                     tooltip="pixels kept around the eyes (official 256); crops 'first' and 'track'"),
        io.Int.Input("chunk_size", default=4, min=1, max=64, tooltip="frames computed together (memory)"),
        io.Boolean.Input("paste_back", default=False,
                         tooltip="blend each result back into its full frame; then every chosen face is tracked "
                                 "(faces, mask, colour and smoothing below apply)"),
        io.Float.Input("feather", default=CROP_FEATHER, min=0.0, max=0.5, step=0.01,
                       tooltip="paste-back fade width, as a fraction of the crop's shorter side"),
        io.String.Input("faces", default="largest", optional=True,
                        tooltip="paste-back: which faces, from the first frame with faces: largest (one face, the "
                                "release), all (also faces that appear later), or index-map numbers such as 0,2 "
                                "(faces numbered left to right; Face Crop's preview shows them)"),
        io.Combo.Input("mask", options=list(MASK_SHAPES), default=mask, optional=True,
                       tooltip="paste-back region: the face, the head (with hair), or the whole crop"),
        io.Float.Input("erode", default=0.0, min=0.0, max=0.5, step=0.005, optional=True,
                       tooltip="shrink the mask by this fraction of the crop's shorter side before fading"),
        io.Boolean.Input("colour_match", default=colour, optional=True,
                         tooltip="match the result's colours to the frame in a ring inside the mask (smoothed over "
                                 "time)"),
        io.Float.Input("smoothing", default=0.8, min=0.0, max=0.99, step=0.01, optional=True,
                       tooltip="temporal smoothing of the mask, crop and colours: 0 = none, 0.8 = about 5 frames"),
        VideoStateType.Input("state", optional=True,
                             tooltip="the state output of the previous chunk of the same video: tracks, masks and "
                                     "colours continue without a jump (paste-back only)"),
    ]


def _outputs():
    return [
        io.Image.Output(display_name="frames", tooltip="the edited frames, in order"),
        io.Mask.Output(display_name="mask", tooltip="per frame where it was changed (paste-back; else all ones)"),
        VideoStateType.Output(display_name="state",
                              tooltip="connect to the next chunk's state input to continue this video"),
    ]


class VideoEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXVideoEdit",
            display_name="Video Edit (StyleGANEX)",
            category=f"{CATEGORY}/video",
            description="Facial attribute editing of a video (an IMAGE batch, frames in order) with "
                        "styleganex_edit_age.pt or styleganex_edit_hair.pt: each frame is encoded and decoded with the "
                        "model's editing vector x editing_scale (negative edits the other way). Output: 4x the crop.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_edit_age.pt or styleganex_edit_hair.pt"),
                io.Image.Input("frames", tooltip="the video's frames in order (an IMAGE batch, or one chunk of it)"),
                io.Float.Input("editing_scale", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip="times the model's editing vector: older/more hair above 0, younger/less below"),
                *_common_inputs(),
            ],
            outputs=_outputs(),
        )

    @classmethod
    def execute(cls, model, frames, editing_scale=1.0, crop="first", padding=256, chunk_size=4, paste_back=False,
                feather=0.1, faces="largest", mask="face", erode=0.0, colour_match=True, smoothing=0.8,
                state=None) -> io.NodeOutput:
        from ..styleganex import model_direction

        model.require("Video Edit", ("rgb",))
        try:
            model_direction(model.model)
        except InputError as e:
            raise InputError(f"Video Edit: {e}. For toonify models use Video Toonify.") from None
        return _run("Video Edit", model, frames, float(editing_scale), crop, padding, chunk_size, paste_back, feather,
                    faces, mask, erode, colour_match, smoothing, state)


class VideoToonify(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXVideoToonify",
            display_name="Video Toonify (StyleGANEX)",
            category=f"{CATEGORY}/video",
            description="Toonify a video (an IMAGE batch, frames in order) with styleganex_toonify_cartoon/arcane/"
                        "pixar.pt: every frame is encoded and decoded with zero noise. Output: 4x the crop.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_toonify_cartoon.pt, _arcane.pt or _pixar.pt"),
                io.Image.Input("frames", tooltip="the video's frames in order (an IMAGE batch, or one chunk of it)"),
                *_common_inputs("crop", False),
            ],
            outputs=_outputs(),
        )

    @classmethod
    def execute(cls, model, frames, crop="first", padding=256, chunk_size=4, paste_back=False,
                feather=0.1, faces="largest", mask="crop", erode=0.0, colour_match=False, smoothing=0.8,
                state=None) -> io.NodeOutput:
        model.require("Video Toonify", ("rgb",))
        return _run("Video Toonify", model, frames, None, crop, padding, chunk_size, paste_back, feather,
                    faces, mask, erode, colour_match, smoothing, state)


NODES = [VideoEdit, VideoToonify]
