"""Saving latents to ComfyUI's output folder and loading them back (``.safetensors``, with the crop record)."""

from __future__ import annotations

import os

from ..styleganex import LATENT_EXTENSIONS, InputError
from .compat import folder_paths, io
from .folders import name_problem, resolve_file
from .sockets import CATEGORY, CropType, LatentType, ModelType
from .tensors import image_to_core

OUTPUT_TAG = " [output]"


def latent_files() -> list[str]:
    """Latent files in the input folder, and those under the output folder (annotated ' [output]')."""
    found = []
    for base, tag in ((folder_paths.get_input_directory(), ""), (folder_paths.get_output_directory(), OUTPUT_TAG)):
        if not os.path.isdir(base):
            continue
        for root, _dirs, files in os.walk(base):
            for f in files:
                if f.lower().endswith(LATENT_EXTENSIONS) and not f.startswith("."):
                    rel = os.path.relpath(os.path.join(root, f), base).replace(os.sep, "/")
                    found.append(rel + tag)
    return sorted(found)


class SaveLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXSaveLatent",
            display_name="Save Latent (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Save a StyleGANEX latent (w+, f, optimised noise, crop record) as .safetensors in the "
                        "output folder. Load it with Load Latent (StyleGANEX) or "
                        "styleganex.pipelines.latent_files.load_latent.",
            inputs=[
                LatentType.Input("latent", tooltip="the latent to save (Encode, Optimize Inversion, Apply Edit)"),
                io.String.Input("filename_prefix", default="styleganex/latent",
                                tooltip="file name start in the output folder; a counter and .safetensors are "
                                        "added"),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename_prefix):
        problem = name_problem(filename_prefix)
        if problem:
            return (f"Save Latent: filename_prefix {str(filename_prefix)[:200]!r} {problem}: latents are saved "
                    f"inside ComfyUI's output folder ({folder_paths.get_output_directory()}); use a relative name "
                    "such as styleganex/latent")
        return True

    @classmethod
    def execute(cls, latent, filename_prefix="styleganex/latent") -> io.NodeOutput:
        from ..styleganex import save_latent

        problem = cls.validate_inputs(filename_prefix)
        if problem is not True:
            raise InputError(problem)
        out_dir = folder_paths.get_output_directory()
        full_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, out_dir)
        name = f"{filename}_{counter:05}_.safetensors"
        save_latent(latent, os.path.join(full_folder, name))
        return io.NodeOutput(ui={"latents": [{"filename": name, "subfolder": subfolder, "type": "output"}]})


class LoadLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXLoadLatent",
            display_name="Load Latent (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Load a StyleGANEX latent (.safetensors written by Save Latent, or the official inversion "
                        ".pt) from the input folder or the output folder. With the original photo connected, the "
                        "stored crop record gives crop_info for pasting back.",
            inputs=[
                io.Combo.Input("latent_file", options=latent_files(),
                               tooltip="a .safetensors latent (Save Latent) or an official *_inversion.pt, from "
                                       "the input or output folder"),
                ModelType.Input("model", optional=True, tooltip="check that the latent fits this model"),
                io.Image.Input("frame", optional=True, tooltip="the original photo(s), for crop_info"),
            ],
            outputs=[LatentType.Output(display_name="latent", tooltip="the stored w+, f and noise maps"),
                     CropType.Output(display_name="crop_info",
                                     tooltip="the stored crop record, placed on the connected frame (for Decode's "
                                             "paste back); empty without a frame")],
        )

    @classmethod
    def _path(cls, latent_file: str) -> str | None:
        """The real path of the choice inside the input (or, tagged ' [output]', the output) folder; None when
        absent; InputError for names that leave those folders."""
        name, folder = latent_file, "input"
        if isinstance(name, str) and name.endswith(OUTPUT_TAG):
            name, folder = name[:-len(OUTPUT_TAG)], "output"
        return resolve_file(folder, name, "Load Latent: latent file")

    @classmethod
    def _missing(cls, latent_file) -> str:
        return (f"latent file '{latent_file}' not found: put it in ComfyUI's input folder "
                f"({folder_paths.get_input_directory()}) or save it with Save Latent (StyleGANEX)")

    @classmethod
    def validate_inputs(cls, latent_file):
        try:
            return True if cls._path(latent_file) is not None else cls._missing(latent_file)
        except InputError as e:
            return str(e)

    @classmethod
    def fingerprint_inputs(cls, latent_file, model=None, frame=None):
        try:
            path = cls._path(latent_file)
        except InputError:
            path = None
        return os.path.getmtime(path) if path else latent_file

    @classmethod
    def execute(cls, latent_file, model=None, frame=None) -> io.NodeOutput:
        from ..styleganex import load_latent

        path = cls._path(latent_file)
        if path is None:
            raise FileNotFoundError(cls._missing(latent_file))
        latent = load_latent(path, None if model is None else model.model)
        crop = None
        if frame is not None:
            if latent.crop is None:
                raise InputError(f"Load Latent: {latent_file} has no crop record, so it cannot be pasted back; "
                                 "disconnect 'frame'")
            try:
                crop = latent.crop.with_frames(image_to_core(frame, "frame"))
            except InputError as e:
                raise InputError(f"Load Latent: {e}") from None
        return io.NodeOutput(latent, crop)


NODES = [SaveLatent, LoadLatent]
