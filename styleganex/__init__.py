"""StyleGANEX in plain PyTorch: encoder, generator, checkpoints and pipelines.

>>> import styleganex
>>> model = styleganex.load_model("models/styleganex/styleganex_inversion.pt")
>>> frame, aligned = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 256, 256)  # [-1, 1]; sides multiples of 8
>>> model.decode(model.encode(frame, aligned)).shape                        # 4x the frame for the 1024 models
torch.Size([1, 3, 256, 256])

This package is the one public surface of the core: every name below is importable from ``styleganex``
(the ComfyUI nodes and the command line import nothing else), and each is loaded only when first used,
so ``import styleganex.model`` still loads the model alone. The layers themselves are the subpackages
``base``, ``model``, ``io``, ``faces``, ``pipelines``, ``training``, ``jobs`` and ``dev`` (see README.md).
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_ERRORS = ("StyleGANEXError", "InputError", "ImageError", "ModelKindError", "DirectionError", "CheckpointError",
           "LatentFileError", "FaceError", "NoFaceError", "FaceTooSmallError", "VideoError", "VideoNotFoundError",
           "OutputPathError", "NonFiniteError", "Cancelled", "StyleGANEXWarning", "check_cancel")

_PUBLIC: dict[str, str] = {
    **{name: "base.errors" for name in _ERRORS},
    **{name: "base.catalogue" for name in (
        "CHECKPOINT_EXTENSIONS", "LICENSE_NOTE", "OFFICIAL_FILES", "PARSER_FILE", "VGG_FILE", "VGG_URL",
        "WEIGHTS_URL", "RESUME_FILE", "IDENTITY_FILE", "ALEX_FILE", "NADA_GENERATORS", "NADA_LICENSE", "NADA_REPO",
        "DIRECTIONS_FILE", "DIRECTIONS_LICENSE",
        "DIRECTIONS_URL", "is_generator_file")},
    **{name: "base.validation" for name in ("check_image", "check_finite", "MAX_SEED", "MAX_STRENGTH")},
    **{name: "base.schema" for name in ("has_control", "shown_text")},
    # the model
    **{name: "model" for name in (
        "Generator", "Latent", "ModelConfig", "SizeRecord", "StyleGANEX", "batch_statistics", "convert",
        "load_generator", "load_model", "save_safetensors")},
    "MIX_SCALE": "model.network",
    **{name: "model.fast" for name in ("FAST_ENV", "FAST_SETTINGS", "bf16_autocast", "check_fast", "fast_mode")},
    # files
    **{name: "io.images" for name in ("load_image", "check_pixels", "write_images")},
    **{name: "io.paths" for name in ("fetch_official", "find_model_file", "models_dir")},
    **{name: "io.directions" for name in ("DIRECTION_EXTENSIONS", "Direction", "read_directions", "save_directions")},
    **{name: "io.video_files" for name in ("read_video_frames", "write_video", "probe_video")},
    # faces
    **{name: "faces" for name in (
        "CropInfo", "CropRecord", "Face", "FaceSelection", "PasteOptions", "PreparedFace", "VideoState",
        "crop_faces", "default_detector", "detect_face", "prepare_face", "paste_back", "predictor_path")},
    **{name: "faces.paste" for name in ("CROP_FEATHER", "FACE_FEATHER", "MASK_SHAPES")},
    **{name: "faces.select" for name in ("ORDERS", "SELECT_MODES")},
    "BATCH_MODES": "faces.crop_info",
    **{name: "faces.parsing" for name in ("FaceParser", "colorize", "label_image_to_labels")},
    # pipelines
    **{name: "pipelines.encode_decode" for name in (
        "NOISE_MODES", "Rendered", "decode_latent", "encode_images", "invert_images", "render_latent")},
    **{name: "pipelines.editing" for name in (
        "MIX_FROM", "OWN_ROWS", "Edit", "apply_direction", "apply_edits", "edit_latent", "ganspace_edit",
        "load_direction", "model_direction", "rows_between", "select_direction", "style_mix", "sweep",
        "sweep_strengths")},
    "sefa_directions": "pipelines.sefa",
    **{name: "pipelines.translation" for name in (
        "mask_to_face", "prepare_sketch", "sketch_to_face", "super_resolve")},
    **{name: "pipelines.video" for name in ("VideoFrame", "process_video")},
    "VIDEO_CROP_MODES": "pipelines.video:CROP_MODES",
    **{name: "pipelines.latent_files" for name in ("LATENT_EXTENSIONS", "load_latent", "save_latent")},
    **{name: "pipelines.lpips" for name in ("find_vgg_weights", "load_lpips")},
    "inversion": "pipelines",
    # training
    **{name: "training" for name in ("prepare_training", "recipe_options", "resume_options")},
    "read_resume": "training.checkpoint",
    **{name: "training.plot" for name in ("loss_curves", "plot_losses")},
}
"""Public name -> the module (below ``styleganex``) that defines it (``module:name`` where it is named otherwise
there)."""

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = where.partition(":")
    attr = attr or name
    parent = import_module(f"{__name__}.{module}")
    value = getattr(parent, attr) if hasattr(parent, attr) else import_module(f"{parent.__name__}.{attr}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
