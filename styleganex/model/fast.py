"""The one switch for the fast paths, and the cache of compiled hot paths.

``STYLEGANEX_FAST`` (environment), ``--fast`` (command line), the loader node's ``fast`` input or
``model.fast`` choose:

* ``"0"``: the reference path everywhere (plain PyTorch, the code the parity tests check);
* ``"1"``: the fast paths wherever they run, also on the CPU; a failure to compile is an error;
* ``"auto"`` (default): the fast paths on CUDA, the reference path elsewhere; a fast path that fails to
  compile falls back to the reference path with one warning.

The fast paths are: ``torch.compile(fullgraph=True)`` of the decoder synthesis, the encoder features and
the inversion step's forward + backward (:func:`compiled_call`); the inversion loop without per-step
host reads (``pipelines.inversion``); the fused Triton epilogue (``model.kernels``, CUDA only).
Validation and range checks run once before a compiled region, never inside it.

Precedence: a :func:`fast_mode` block (the CLI wraps each command in one) over ``model.fast`` over
the environment variable.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import types
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from ..base.errors import InputError, StyleGANEXError, StyleGANEXWarning

FAST_ENV = "STYLEGANEX_FAST"
FAST_SETTINGS = ("auto", "1", "0")
"""The values of the switch, the default first."""
CUDAGRAPHS_ENV = "STYLEGANEX_CUDAGRAPHS"

MAX_COMPILED_SHAPES = 8
"""Compiled graphs kept per model and entry point; further shapes run the reference path (a video
of ever-changing crop sizes must not compile forever)."""

_OVERRIDE: contextvars.ContextVar[str | None] = contextvars.ContextVar("styleganex_fast", default=None)


def check_fast(value: Any, name: str = FAST_ENV) -> str:
    """``value`` as one of :data:`FAST_SETTINGS` (bools and 0/1 accepted); InputError otherwise."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and value in (0, 1):
        return str(value)
    text = str(value).strip().lower()
    if text in FAST_SETTINGS:
        return text
    raise InputError(f"{name} must be one of {', '.join(FAST_SETTINGS)}, got {value!r}")


def fast_setting(model: Any = None) -> str:
    """The setting in force for ``model``: a :func:`fast_mode` block, else ``model.fast``, else
    ``$STYLEGANEX_FAST``, else ``"auto"``."""
    override = _OVERRIDE.get()
    if override is not None:
        return override
    own = getattr(model, "fast", None)
    if own is not None:
        return check_fast(own, "model.fast")
    return check_fast(os.environ.get(FAST_ENV, "auto"))


@contextlib.contextmanager
def fast_mode(value: Any) -> Iterator[str]:
    """Within the block every model uses the setting ``value`` (None: leave the setting alone).
    Thread- and task-local."""
    if value is None:
        yield fast_setting()
        return
    setting = check_fast(value, "fast")
    token = _OVERRIDE.set(setting)
    try:
        yield setting
    finally:
        _OVERRIDE.reset(token)


@dataclass(frozen=True)
class FastPlan:
    """What runs fast. compile: ``torch.compile`` the hot paths; static_loop: the inversion loop
    without per-step host reads; kernels: the Triton epilogue; strict: errors are raised instead of
    falling back to the reference path (setting ``"1"``); cudagraphs: compiled graphs replayed as CUDA
    graphs (``$STYLEGANEX_CUDAGRAPHS=1``, CUDA only; off by default until measured)."""

    compile: bool = False
    static_loop: bool = False
    kernels: bool = False
    strict: bool = False
    cudagraphs: bool = False

    @property
    def compile_mode(self) -> str | None:
        """torch.compile's mode: "reduce-overhead" (CUDA graphs) when ``cudagraphs``, else the default."""
        return "reduce-overhead" if self.cudagraphs else None

    @property
    def any(self) -> bool:
        return self.compile or self.static_loop or self.kernels


REFERENCE = FastPlan()


def fast_plan(device: torch.device | str, model: Any = None, setting: Any = None) -> FastPlan:
    """The :class:`FastPlan` for work on ``device`` (``setting`` overrides :func:`fast_setting`)."""
    value = fast_setting(model) if setting is None else check_fast(setting, "fast")
    device = torch.device(device)
    if value == "0" or (value == "auto" and device.type != "cuda"):
        return REFERENCE
    kernels = device.type == "cuda" and _triton_available()
    graphs = device.type == "cuda" and os.environ.get(CUDAGRAPHS_ENV, "0") == "1"
    return FastPlan(compile=True, static_loop=True, kernels=kernels, strict=value == "1", cudagraphs=graphs)


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


# ---- low precision ------------------------------------------------------------------------------------
@contextlib.contextmanager
def bf16_autocast(device: torch.device | str) -> Iterator[None]:
    """bfloat16 autocast for the block, end to end: convolutions and activations in bf16 and
    channels_last (the model converts f and the skip features on entry), while the styles, the
    modulation and the demodulation stay fp32 (``ModulatedConv2d.modulated_weight`` opts out).
    Outputs are bf16; a decoded image stays within PSNR 40 dB of fp32 (tests/test_fast.py)."""
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield


def channels_last_wanted(x: torch.Tensor) -> bool:
    """Whether the model's entry converts ``x`` [B, C, H, W] to channels_last: under bf16/fp16 autocast
    on its device (the layout tensor cores and oneDNN's low-precision kernels want)."""
    return x.ndim == 4 and torch.is_autocast_enabled(x.device.type)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last_wanted(x) else x


# ---- compiled hot paths --------------------------------------------------------------------------
@dataclass
class _Entry:
    compiled: Callable | None = None
    keys: set = field(default_factory=set)
    failed: bool = False


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


COMPILE_BACKEND = "inductor"
"""The torch.compile backend of the fast paths. Benchmarks' CPU smoke runs set ``"aot_eager"``: the same
fullgraph capture (a graph break still fails) and autograd graphs, without inductor's code generation."""


def compile_fullgraph(fn: Callable, mode: str | None = None) -> Callable:
    """``torch.compile(fn, fullgraph=True, dynamic=False)``: any graph break is an error."""
    if COMPILE_BACKEND != "inductor":
        mode = None  # modes are inductor's
    return torch.compile(fn, fullgraph=True, dynamic=False, backend=COMPILE_BACKEND, mode=mode)


def compiled_call(owner: torch.nn.Module, name: str, fn: Callable, key: tuple, args: tuple,
                  reference: Callable, strict: bool = False, mode: str | None = None):
    """``fn(owner, *args)`` compiled once per ``(owner, name)`` and per ``key`` (the shapes, dtypes and
    options the graph depends on), else ``reference(*args)``.

    ``fn`` is a module-level function taking the owner first (so the cache holds no reference that
    keeps the owner alive). The reference runs instead when this entry point failed to compile before
    or already holds :data:`MAX_COMPILED_SHAPES` keys. A compile error falls back to the reference with
    one warning, or is raised when ``strict``; the project's own input errors are always raised.
    ``mode``: torch.compile's mode (a separate cache entry).
    """
    entries = _CACHE.setdefault(owner, {})
    entry = entries.setdefault(name if mode is None else f"{name} ({mode})", _Entry())
    if entry.failed or (key not in entry.keys and len(entry.keys) >= MAX_COMPILED_SHAPES):
        return reference(*args)
    if entry.compiled is None:
        entry.compiled = compile_fullgraph(_own_code(fn), mode)
    try:
        if mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # each call is a new step: earlier outputs are done
        out = entry.compiled(owner, *args)
    except (StyleGANEXError, torch.OutOfMemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - a compiler failure: the reference path takes over
        if strict:
            raise
        entry.failed = True
        warnings.warn(f"styleganex: the compiled {name} failed ({type(e).__name__}: {str(e)[:200]}); "
                      f"using the reference path (set {FAST_ENV}=0 to silence)", StyleGANEXWarning, stacklevel=2)
        return reference(*args)
    entry.keys.add(key)
    return out


def mark_failed(owner: torch.nn.Module, name: str, error: BaseException, mode: str | None = None) -> None:
    """Record that ``(owner, name)``'s compiled graph failed outside :func:`compiled_call` (e.g. in its
    backward): from now on the reference runs, after one warning."""
    entry = _CACHE.setdefault(owner, {}).setdefault(name if mode is None else f"{name} ({mode})", _Entry())
    entry.failed = True
    warnings.warn(f"styleganex: the compiled {name} failed ({type(error).__name__}: {str(error)[:200]}); "
                  f"using the reference path (set {FAST_ENV}=0 to silence)", StyleGANEXWarning, stacklevel=3)


def _own_code(fn: Callable) -> Callable:
    """A copy of ``fn`` with its own code object. Dynamo keeps its compiled graphs (and its recompile
    limit, 8, a hard error under fullgraph) per code object: a copy per model and entry point gives
    each its own, so that MAX_COMPILED_SHAPES, not other models, decides when the reference runs."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)


def compiled_keys(owner: torch.nn.Module, name: str) -> set:
    """The keys compiled so far for ``(owner, name)`` (for tests and benchmarks)."""
    entry = _CACHE.get(owner, {}).get(name)
    return set() if entry is None else set(entry.keys)


def mode_key(device: torch.device | str) -> tuple:
    """The global modes a graph depends on: grad, inference mode, autocast (on, dtype) on ``device``."""
    kind = torch.device(device).type
    on = torch.is_autocast_enabled(kind)
    return (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), on,
            torch.get_autocast_dtype(kind) if on else None)


def shape_key(*tensors: torch.Tensor | None) -> tuple:
    """(shape, dtype, device, requires_grad) of each tensor, None kept: a cache key."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype, str(t.device), t.requires_grad)
                 for t in tensors)
