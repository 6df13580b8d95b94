"""The exceptions of the whole package, and the progress/cancel conventions of long work.

Every error the core raises about what a user gave it is a :class:`StyleGANEXError`, so the front
ends (CLI, ComfyUI nodes) catch one type and show its message as it is::

    StyleGANEXError
    ├── InputError (ValueError)          a tensor, option or value that cannot be used
    │   ├── ImageError                   an image file or image tensor
    │   ├── ModelKindError               a model of the wrong kind for a pipeline
    │   └── DirectionError               an editing direction (file or value)
    ├── CheckpointError (ValueError)     a model file that is not (the right) checkpoint
    ├── LatentFileError (ValueError)     a latent file that cannot be used
    ├── FaceError (ValueError)           a face that cannot be cropped or aligned
    │   ├── NoFaceError                  no face where one is needed
    │   └── FaceTooSmallError            eyes closer than the minimum
    ├── VideoError (ValueError)          a video file that cannot be read or written
    │   └── VideoNotFoundError (FileNotFoundError)
    ├── OutputPathError (ValueError)     an output path that cannot be written or names an input
    ├── NonFiniteError (ValueError)      a step that produced NaN or infinite values
    └── Cancelled (RuntimeError)         the caller's cancel check asked to stop

The subclasses stay ``ValueError`` (and ``FileNotFoundError`` / ``RuntimeError``) so code written
against the standard types keeps working.

Long operations (inversion, video, translation) take ``progress(done: int, total: int, info: dict)``
and ``cancel() -> bool`` callables; when ``cancel()`` returns True they stop within one step and raise
:class:`Cancelled`, leaving no partial output behind.
"""

from __future__ import annotations

__all__ = [
    "Cancelled", "CheckpointError", "DirectionError", "FaceError", "FaceTooSmallError", "ImageError",
    "InputError", "LatentFileError", "ModelKindError", "NoFaceError", "NonFiniteError", "OutputPathError",
    "StyleGANEXError", "StyleGANEXWarning", "VideoError", "VideoNotFoundError", "check_cancel",
]


class StyleGANEXError(Exception):
    """Base class of every error this package raises about its inputs."""


class InputError(StyleGANEXError, ValueError):
    """A tensor, option or value that cannot be used (wrong shape, range, type or size)."""


class ImageError(InputError):
    """A file that is not a readable image, or an image tensor that breaks the core's conventions."""


class ModelKindError(InputError):
    """A model of the wrong kind for a pipeline (e.g. an inversion model given to super-resolution)."""


class DirectionError(InputError):
    """An unreadable direction file or a direction that does not fit the latent."""


class CheckpointError(StyleGANEXError, ValueError):
    """A file that is not (or not the right kind of) StyleGANEX / StyleGAN2 checkpoint."""


class LatentFileError(StyleGANEXError, ValueError):
    """A file that is not a (valid) latent, or a latent that does not fit the model."""


class FaceError(StyleGANEXError, ValueError):
    """Base class of the errors about faces."""


class NoFaceError(FaceError):
    """No face was found where one was needed."""


class FaceTooSmallError(FaceError):
    """The face is too small to crop or align (eye distance under ``faces.MIN_EYE_DISTANCE``)."""


class VideoError(StyleGANEXError, ValueError):
    """A video file that cannot be read or written as asked."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist."""

    def __init__(self, *args):
        super().__init__(*args)
        if len(args) in (2, 3) and isinstance(args[0], int):  # OSError's (errno, message[, filename])
            self.errno, self.strerror = args[0], args[1]
            self.filename = args[2] if len(args) == 3 else None

    def __str__(self) -> str:  # the words, not the (errno, message, filename) tuple ValueError would show
        return str(self.strerror) if self.strerror else super().__str__()


class OutputPathError(StyleGANEXError, ValueError):
    """An output path that cannot be written (a folder, a parent that is a file, an extension the writer
    does not produce) or that names one of the inputs."""


class NonFiniteError(StyleGANEXError, ValueError):
    """A computation produced NaN or infinite values; the message names the step. Nothing is written."""


class Cancelled(StyleGANEXError, RuntimeError):
    """The caller's cancel check asked to stop."""


class StyleGANEXWarning(UserWarning):
    """Something the user allowed but should know about (e.g. a truncated video read with
    ``allow_short``); the command line prints these as ``warning: ...`` lines."""


def check_cancel(cancel) -> None:
    """Raise :class:`Cancelled` when ``cancel`` (a callable or None) returns True."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
