"""What every node shares: socket types, the objects that travel on them, image conversion, the
models folders, and the progress/cancel adapters. No model math lives here (that is ``styleganex``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ..styleganex.base.errors import Cancelled, ImageError, InputError, ModelKindError
from ..styleganex.io.directions import EXTENSIONS as DIRECTION_FILE_EXTENSIONS
from ..styleganex.io.paths import OFFICIAL_FILES
from ..styleganex.model.checkpoints import LICENSE_NOTE, WEIGHTS_URL
from .compat import (
    ExecutionBlocker,
    Interrupted,
    ProgressBar,
    auto_dtype,
    compute_device,
    folder_paths,
    interrupted,
    io,
    send_node_text,
    throw_if_interrupted,
)
from .memory import Managed

CATEGORY = "StyleGANEX"

# ---- socket types (matched by name; never ComfyUI's LATENT) ---------------------------------------
ModelType = io.Custom("STYLEGANEX_MODEL")
LatentType = io.Custom("STYLEGANEX_LATENT")
CropType = io.Custom("STYLEGANEX_CROP")
ParserType = io.Custom("STYLEGANEX_PARSER")
VideoStateType = io.Custom("STYLEGANEX_VIDEO_STATE")

# ---- models folders --------------------------------------------------------------------------------
MODELS_FOLDER = "styleganex"
DIRECTIONS_FOLDER = "styleganex_directions"
EXTENSIONS = {".pt", ".pth", ".safetensors", ".bin"}
DIRECTION_EXTENSIONS = set(DIRECTION_FILE_EXTENSIONS)  # exactly what the core reads
VGG_FILE = "vgg16-397923af.pth"
PARSER_FILE = "faceparsing.pth"
_NOT_A_GENERATOR = ("faceparsing", "vgg16", "alexnet", "model_ir_se50", "resume")  # resume.pt: training state


def register_folders() -> None:
    """Register ``models/styleganex`` (and ``models/styleganex/directions``) with ComfyUI.

    Appends to what ``extra_model_paths.yaml`` already gave (a user's ``styleganex:`` entries are kept,
    and stay first); the file extensions are added to the existing entry rather than replacing it.
    """
    default = os.path.join(folder_paths.models_dir, MODELS_FOLDER)
    folder_paths.add_model_folder_path(MODELS_FOLDER, default)
    _add_extensions(MODELS_FOLDER, EXTENSIONS)
    for path in folder_paths.get_folder_paths(MODELS_FOLDER):
        folder_paths.add_model_folder_path(DIRECTIONS_FOLDER, os.path.join(path, "directions"))
    _add_extensions(DIRECTIONS_FOLDER, DIRECTION_EXTENSIONS)


def _add_extensions(name: str, extensions: set) -> None:
    paths, exts = folder_paths.folder_names_and_paths[name]
    if isinstance(exts, set):
        exts.update(extensions)
    else:  # pragma: no cover - a list or tuple from elsewhere
        folder_paths.folder_names_and_paths[name] = (paths, set(exts) | set(extensions))


def model_folders() -> list[str]:
    return folder_paths.get_folder_paths(MODELS_FOLDER)


def first_folder(folder: str = MODELS_FOLDER) -> str:
    """Where a user should put a missing file of ``folder``: its first registered path."""
    folders = folder_paths.get_folder_paths(folder)
    return folders[0] if folders else f"ComfyUI/models/{folder.replace('_', '/')}"


def _files(name: str) -> list[str]:
    try:
        return list(folder_paths.get_filename_list(name))
    except KeyError:  # not registered (tests that skip register_folders)
        return []


def checkpoint_files() -> list[str]:
    """StyleGANEX / StyleGAN2 checkpoints in the models folders (not directions, parser or VGG files)."""
    out = []
    for f in _files(MODELS_FOLDER):
        norm = f.replace("\\", "/")
        base = os.path.basename(norm).lower()
        if norm.startswith("directions/") or any(base.startswith(p) for p in _NOT_A_GENERATOR):
            continue
        out.append(f)
    return out


def parser_files() -> list[str]:
    files = [f for f in _files(MODELS_FOLDER) if "pars" in os.path.basename(f).lower()]
    return files or [PARSER_FILE]


def vgg_files() -> list[str]:
    found = [f for f in _files(MODELS_FOLDER) if os.path.basename(f).lower().startswith("vgg")]
    return sorted(set(found) | {VGG_FILE})


def direction_files() -> list[str]:
    return _files(DIRECTIONS_FOLDER)


# ---- file names: only inside ComfyUI's folders ----------------------------------------------------
def folder_roots(folder: str) -> list[str]:
    """The folders a file name of ``folder`` may resolve into: ``"input"``, ``"output"``, ``"temp"`` (ComfyUI's
    directories) or a registered models folder name (all its paths, e.g. from extra_model_paths.yaml)."""
    special = {"input": folder_paths.get_input_directory, "output": folder_paths.get_output_directory,
               "temp": folder_paths.get_temp_directory}
    if folder in special:
        return [special[folder]()]
    try:
        return list(folder_paths.get_folder_paths(folder))
    except KeyError:  # not registered (tests that skip register_folders)
        return []


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a file name inside a folder (None when it can)."""
    if not isinstance(name, str) or not name.strip():
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    norm = name.replace("\\", "/")
    if os.path.isabs(name) or norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "is an absolute path"
    if ".." in norm.split("/"):
        return "climbs out of its folder with '..'"
    return None


def _refused(folder: str, name, what: str, problem: str) -> InputError:
    roots = folder_roots(folder)
    where = ", ".join(roots) if roots else f"ComfyUI's {folder} folder"
    return InputError(f"{what} {str(name)[:200]!r} {problem}: a node only reads files inside ComfyUI's {folder} "
                      f"folder(s) ({where}). Put the file there and choose it from the list.")


def resolve_file(folder: str, name: str, what: str = "file") -> str | None:
    """The real path of the file ``name`` inside one of ``folder``'s roots (:func:`folder_roots`), after
    resolving links; None when there is no such file. Names that leave the folders (absolute paths, '..',
    links to elsewhere) raise InputError."""
    problem = name_problem(name)
    if problem:
        raise _refused(folder, name, what, problem)
    for root in folder_roots(folder):
        real_root = os.path.realpath(root)
        candidate = os.path.join(real_root, name)
        if not os.path.lexists(candidate):
            continue
        real = os.path.realpath(candidate)
        if os.path.commonpath([real, real_root]) != real_root:
            raise _refused(folder, name, what, "links to a file outside those folders")
        if os.path.isfile(real):
            return real
    return None


def check_file(folder: str, name: str, what: str, missing) -> bool | str:
    """For ``validate_inputs``: True when ``name`` is a file inside ``folder``, else the message (the
    refusal, or ``missing(name)`` when it is absent)."""
    try:
        return True if resolve_file(folder, name, what) is not None else missing(name)
    except InputError as e:
        return str(e)


def find_model_file(name: str) -> str | None:
    """The file ``name`` in the models folders, or None; InputError for a name outside them."""
    return resolve_file(MODELS_FOLDER, name, "model file")


DOWNLOAD_OPTION = "download_if_missing"


def missing_file_message(name: str, what: str = "model file") -> str:
    folders = model_folders()
    where = first_folder()
    extra = f" (also searched: {', '.join(folders[1:])})" if len(folders) > 1 else ""
    base = os.path.basename(name)
    offer = ""
    if base in OFFICIAL_FILES:
        offer = (f" Or set '{DOWNLOAD_OPTION}' to true on the loader: ComfyUI then fetches it from the hub into "
                 f"{download_folder()} (with a progress bar), under the same licence.")
    return (f"StyleGANEX {what} '{name}' not found. Download {base} from {WEIGHTS_URL} "
            f"({LICENSE_NOTE}) and put it in {where}{extra}; then press R in ComfyUI to refresh the list.{offer}")


def download_folder() -> str:
    """ComfyUI's own models/styleganex (where the loaders' download option puts files)."""
    return os.path.join(folder_paths.models_dir, MODELS_FOLDER)


def fetch_model_file(name: str) -> str:
    """Download an official file into :func:`download_folder` with ComfyUI's progress bar (stops on Cancel)."""
    from ..styleganex.io.paths import fetch_official

    bar = ProgressBar(1)
    path = fetch_official(os.path.basename(name), download_folder(),
                          progress=lambda done, total: bar.update_absolute(done, max(total, done, 1)),
                          cancel=interrupted)
    return str(path)


def check_model_file(name: str, what: str = "model file"):
    """For ``validate_inputs``: True when the file is there, else the message saying where to get it (or why
    the name is refused)."""
    return check_file(MODELS_FOLDER, name, what, lambda n: missing_file_message(n, what))


def require_model_file(name: str, what: str = "model file") -> str:
    path = resolve_file(MODELS_FOLDER, name, what)
    if path is None:
        raise FileNotFoundError(missing_file_message(name, what))
    return path


# ---- the objects on the sockets --------------------------------------------------------------------
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
KIND_NODES = {"sr": "Super-Resolve", "sketch": "Sketch/Mask to Face", "mask": "Sketch/Mask to Face",
              "rgb": "Encode / Optimize Inversion / Video Edit"}


@dataclass(eq=False)
class StyleGANEXModel:
    """A loaded model plus where it computes. The model is registered with ComfyUI's memory manager
    (:mod:`.memory`) the first time a node uses it; :meth:`on_device` gives it on its device."""

    model: Any
    name: str
    device: torch.device
    dtype: torch.dtype
    _managed: Any = field(default=None, init=False, repr=False)

    @property
    def variant(self) -> str:
        return str(getattr(self.model, "variant", "custom"))

    @property
    def kind(self) -> str:
        """The core's model kind: 'rgb', 'sr', 'sketch' or 'mask'."""
        return self.model.kind

    def describe(self) -> str:
        return f"'{self.name}' (a {self.variant} model)"

    def require(self, node: str, kinds: tuple[str, ...]) -> None:
        """The core's kind check, with the node that takes this model added to the message."""
        try:
            self.model.require_kind(*kinds, task=node)
        except ModelKindError as e:
            raise ModelKindError(f"{e}. Load the right checkpoint, or connect {self.describe()} to the "
                                 f"'{KIND_NODES[self.kind]}' node instead.") from None

    @property
    def managed(self) -> Managed:
        """This model in ComfyUI's memory manager (``managed.patcher`` is its ModelPatcher)."""
        if self._managed is None:
            self._managed = Managed(self.model, self.device, tensor_attrs=("editing_w",))
        return self._managed

    @contextlib.contextmanager
    def on_device(self, dtype: torch.dtype | None = None):
        """The model on its compute device for the block (loaded through ComfyUI's memory manager, which
        keeps it there between runs while memory allows), cast to ``dtype`` for the block if given."""
        with self.managed.use(dtype) as model:
            yield model


@dataclass(eq=False)
class FaceParserHandle:
    parser: Any
    name: str
    device: torch.device
    _managed: Any = field(default=None, init=False, repr=False)

    @property
    def managed(self) -> Managed:
        if self._managed is None:
            self._managed = Managed(self.parser.model, self.device, owner=self.parser)
        return self._managed

    @contextlib.contextmanager
    def on_device(self):
        with self.managed.use():
            yield self.parser


def blocked(message: str, error: type[Exception]):
    """An output that stops every node connected to it with ``message`` (ComfyUI's ExecutionBlocker),
    so other outputs (a preview) still reach theirs; without ExecutionBlocker, ``error(message)`` is raised."""
    if ExecutionBlocker is None:  # pragma: no cover
        raise error(message)
    return ExecutionBlocker(message)


# ---- images ----------------------------------------------------------------------------------------
def _check_frames(x: torch.Tensor, name: str) -> None:
    """Float values, finite, every frame within the pixel cap (``styleganex.io.images.MAX_PIXELS``)."""
    from ..styleganex.base.validation import check_image
    from ..styleganex.io.images import check_pixels

    check_image(x, name, channels=None, value_range=None, ndims=(4,))
    check_pixels(x.shape[-1], x.shape[-2], f"{name} (each frame)")


def image_to_core(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE [B, H, W, C] (0..1) -> the core's [B, 3, H, W] float32 0..1 on the CPU.
    Grey images are repeated to RGB; an alpha channel is dropped. Refuses empty batches, other channel
    counts, non-float or non-finite values and frames over the pixel cap (ImageError)."""
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"{name} must be an IMAGE tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise ImageError(f"{name} must be an IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, got "
                         f"{tuple(image.shape)}")
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[2] == 0:
        raise ImageError(f"{name} is empty: {tuple(image.shape)}")
    _check_frames(image.permute(0, 3, 1, 2), name)
    x = image.detach().to("cpu", torch.float32)
    x = x[..., :3] if x.shape[-1] >= 3 else x.expand(-1, -1, -1, 3)
    return x.permute(0, 3, 1, 2).clamp(0.0, 1.0).contiguous()


def core_to_image(x: torch.Tensor, signed: bool = True) -> torch.Tensor:
    """The core's [B, 3, H, W] ([-1, 1] when ``signed``, else 0..1) -> IMAGE [B, H, W, 3] 0..1 on the CPU.
    NonFiniteError (never a black image) when the core handed back NaN or infinite values."""
    from ..styleganex.base.validation import check_finite

    x = check_finite(x.detach().to("cpu", torch.float32), "the node's computation")
    if signed:
        x = (x + 1.0) / 2.0
    return x.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous()


def mask_to_core(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """ComfyUI MASK [B, H, W] (or [H, W]) -> [B, 1, H, W] float32 on the CPU (checked as :func:`image_to_core`)."""
    if not isinstance(mask, torch.Tensor):
        raise ImageError(f"{name} must be a MASK tensor, got {type(mask).__name__}")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ImageError(f"{name} must be a MASK [batch, height, width], got {tuple(mask.shape)}")
    if mask.numel() == 0:
        raise ImageError(f"{name} is empty: {tuple(mask.shape)}")
    _check_frames(mask[:, None], name)
    return mask.detach().to("cpu", torch.float32)[:, None].contiguous()


def signed(x01: torch.Tensor) -> torch.Tensor:
    """0..1 -> the model's [-1, 1]."""
    return x01 * 2.0 - 1.0


# ---- progress and cancel ---------------------------------------------------------------------------
class Progress:
    """ComfyUI's progress bar as the core's ``progress(done, total, info)`` and ``cancel()``.

    With ``estimate`` (the node's name), the time the whole run will take is measured on the first steps
    and shown on the node (and in ComfyUI's log), then the time left every tenth of the run.
    """

    ESTIMATE_AFTER_STEPS = 3  # steps timed after the first (which includes warm-up)
    ESTIMATE_AFTER_S = 5.0  # or this long after the first step, whichever comes first

    def __init__(self, total: int, estimate: str | None = None, device: str = ""):
        self.total = max(1, int(total or 1))
        self.bar = ProgressBar(self.total)
        self.label, self.device = estimate, device
        self._first: tuple[int, float] | None = None
        self._estimated = False
        self._next_report = 0

    def __call__(self, done, total=None, info=None) -> None:
        if total:
            self.total = int(total)
        self.bar.update_absolute(min(int(done), self.total), self.total)
        if self.label:
            self._estimate(int(done))

    def _estimate(self, done: int) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = (done, now)
            return
        first_done, first_t = self._first
        timed = done - first_done
        if timed <= 0 or done >= self.total and not self._estimated:
            return
        per_step = (now - first_t) / timed
        left = per_step * (self.total - done)
        if not self._estimated:
            if timed < self.ESTIMATE_AFTER_STEPS and now - first_t < self.ESTIMATE_AFTER_S:
                return
            self._estimated = True
            self._next_report = done + max(1, self.total // 10)
            text = (f"{self.label}: about {format_duration(per_step * self.total)} for {self.total} steps"
                    f"{' on ' + self.device if self.device else ''} ({per_step:.2f} s a step); "
                    f"{format_duration(left)} left")
        elif done >= self._next_report and done < self.total:
            self._next_report = done + max(1, self.total // 10)
            text = f"{self.label}: step {done}/{self.total}, {format_duration(left)} left"
        else:
            return
        logging.info(text)
        send_node_text(text)

    def step(self, done: int) -> None:
        """For the nodes' own loops: report and stop here if the user cancelled."""
        throw_if_interrupted()
        self(done)

    @staticmethod
    def cancel() -> bool:
        return interrupted()


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 40 min'."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@contextlib.contextmanager
def cancellable():
    """Turn the core's ``Cancelled`` into ComfyUI's interrupt (so the queue shows 'interrupted')."""
    try:
        yield
    except Cancelled:
        throw_if_interrupted()
        raise Interrupted()
    throw_if_interrupted()


def device_choice(choice: str) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    return torch.device(compute_device())


def dtype_choice(choice: str, device: torch.device) -> torch.dtype:
    """auto: ComfyUI's choice for an image model on ``device`` (:func:`.compat.auto_dtype`: fp32 unless
    ComfyUI runs with --bf16-vae / --fp16-vae)."""
    if choice == "auto":
        return auto_dtype(device)
    return PRECISIONS[choice]
