"""ComfyUI's folders for this pack: ``models/styleganex`` (and its ``directions``) registered, listed, and every
file name a node is given resolved only inside them (no absolute paths, no ``..``, no links leading out)."""

from __future__ import annotations

import os
import re

from ..styleganex import (
    CHECKPOINT_EXTENSIONS,
    DIRECTION_EXTENSIONS,
    LICENSE_NOTE,
    OFFICIAL_FILES,
    PARSER_FILE,
    VGG_FILE,
    WEIGHTS_URL,
    InputError,
    is_generator_file,
)
from .compat import folder_paths

# ---- models folders --------------------------------------------------------------------------------
MODELS_FOLDER = "styleganex"
DIRECTIONS_FOLDER = "styleganex_directions"


def register_folders() -> None:
    """Register ``models/styleganex`` (and ``models/styleganex/directions``) with ComfyUI.

    Appends to what ``extra_model_paths.yaml`` already gave (a user's ``styleganex:`` entries are kept,
    and stay first); the file extensions are added to the existing entry rather than replacing it.
    """
    default = os.path.join(folder_paths.models_dir, MODELS_FOLDER)
    folder_paths.add_model_folder_path(MODELS_FOLDER, default)
    _add_extensions(MODELS_FOLDER, set(CHECKPOINT_EXTENSIONS))
    for path in folder_paths.get_folder_paths(MODELS_FOLDER):
        folder_paths.add_model_folder_path(DIRECTIONS_FOLDER, os.path.join(path, "directions"))
    _add_extensions(DIRECTIONS_FOLDER, set(DIRECTION_EXTENSIONS))


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
    return [f for f in _files(MODELS_FOLDER) if is_generator_file(f)]


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
"""The loaders' input that fetches a missing official file from the hub."""


def download_folder() -> str:
    """ComfyUI's own models/styleganex (where the loaders' download option puts files)."""
    return os.path.join(folder_paths.models_dir, MODELS_FOLDER)


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


