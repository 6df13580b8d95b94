"""Video editing and toonification of an IMAGE batch (the frames, in order)."""

from __future__ import annotations

import torch

from ..styleganex.video import CROP_MODES as VIDEO_CROP_MODES
from .common import CATEGORY, ModelType, Progress, cancellable, core_to_image, image_to_core
from .compat import io

CROP_MODES = list(VIDEO_CROP_MODES)


def _run(node: str, model, frames, editing_scale, crop, padding, chunk_size, paste_back, feather):
    from ..styleganex import faces as fc
    from ..styleganex.video import process_video

    x01 = image_to_core(frames, "frames")
    total = x01.shape[0]
    progress = Progress(total)
    outs = []
    with model.on_device() as m, cancellable():
        try:
            it = process_video(m, x01, editing_scale=editing_scale, crop=crop, chunk_size=int(chunk_size),
                               paste_back=bool(paste_back), progress=progress, cancel=progress.cancel,
                               total=total, feather=float(feather), padding=int(padding))
            for frame in it:
                outs.append(frame.to("cpu", torch.float32))
        except fc.NoFaceError as e:
            raise fc.NoFaceError(f"{node}: {e}. The first frame gives the crop for the whole video: trim the video "
                                 "to start on a visible face, or set crop to 'none'.") from e
    return io.NodeOutput(core_to_image(torch.stack(outs), signed=False))


def _common_inputs():
    return [
        io.Combo.Input("crop", options=CROP_MODES, default="first",
                       tooltip="first: the face of frame 0 gives one crop for all frames (official); track: a crop of "
                               "that size follows the face; none: whole frames"),
        io.Int.Input("padding", default=256, min=32, max=1024, step=8,
                     tooltip="pixels kept around the eyes (official 256); crops 'first' and 'track'"),
        io.Int.Input("chunk_size", default=4, min=1, max=64, tooltip="frames computed together (memory)"),
        io.Boolean.Input("paste_back", default=False, tooltip="blend each result back into its full frame"),
        io.Float.Input("feather", default=0.1, min=0.0, max=0.5, step=0.01,
                       tooltip="paste-back fade width, as a fraction of the crop's shorter side"),
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
                io.Image.Input("frames", tooltip="the video as an IMAGE batch, frames in order (Get Video "
                                                 "Components)"),
                io.Float.Input("editing_scale", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip="times the model's editing vector: older/more hair above 0, younger/less "
                                       "below"),
                *_common_inputs(),
            ],
            outputs=[io.Image.Output(display_name="frames",
                                     tooltip="the edited frames in order: 4x the crop, or full frames with "
                                             "paste_back")],
        )

    @classmethod
    def execute(cls, model, frames, editing_scale=1.0, crop="first", padding=256, chunk_size=4, paste_back=False,
                feather=0.1) -> io.NodeOutput:
        model.require("Video Edit", ("rgb",))
        if getattr(model.model, "editing_w", None) is None:
            raise ValueError(f"Video Edit needs styleganex_edit_age.pt or styleganex_edit_hair.pt (a model with an "
                             f"editing vector); {model.describe()} has none. For toonify models use Video Toonify.")
        return _run("Video Edit", model, frames, float(editing_scale), crop, padding, chunk_size, paste_back, feather)


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
                io.Image.Input("frames", tooltip="the video as an IMAGE batch, frames in order (Get Video "
                                                 "Components)"),
                *_common_inputs(),
            ],
            outputs=[io.Image.Output(display_name="frames",
                                     tooltip="the toonified frames in order: 4x the crop, or full frames with "
                                             "paste_back")],
        )

    @classmethod
    def execute(cls, model, frames, crop="first", padding=256, chunk_size=4, paste_back=False,
                feather=0.1) -> io.NodeOutput:
        model.require("Video Toonify", ("rgb",))
        return _run("Video Toonify", model, frames, None, crop, padding, chunk_size, paste_back, feather)


NODES = [VideoEdit, VideoToonify]
