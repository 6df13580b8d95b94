"""The product's pipelines on an accelerator, checked against the CPU: same random weights, same inputs.

    python -m benchmarks.gpu_check --device cuda      # one line per pipeline, then "N passed, M failed"

Each check runs a pipeline twice, once with the model on the CPU and once on ``--device`` (strict fp32:
TF32 off), and compares the outputs: the largest absolute difference must stay within the check's
tolerance (outputs in 0..1 or -1..1). It is how a ComfyUI user meets the core (models on the GPU, frames
and crop infos on the CPU), so a tensor left on the wrong device, or a path that only works on the CPU,
shows up here. Face detection is replaced by synthetic landmarks (no dlib on the device machine); the
reduced-width random models of the tests keep it to a minute. Peak device memory is printed per check.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from styleganex.dev.testing import group_photo, random_model, synthetic_landmarks
from styleganex.faces import CropInfo, Face, PasteOptions, prepare_face
from styleganex.pipelines.encode_decode import decode_latent, encode_images, invert_images
from styleganex.pipelines.translation import mask_to_face, sketch_to_face, super_resolve
from styleganex.pipelines.video import process_video


class LandmarkDetector:
    """A detector that 'finds' fixed synthetic faces (frame pixels): the tracked video path without dlib."""

    def __init__(self, centres, eye_distance: float):
        self.faces = [Face.from_landmarks(synthetic_landmarks(x, y, eye_distance)) for x, y in centres]

    def detect(self, image):
        return list(self.faces)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_encode_decode(model: Callable, device) -> torch.Tensor:
    crops = torch.rand(2, 3, 60, 70, generator=_gen(1))  # sides not multiples of 8: padded and unpadded
    aligned = torch.rand(2, 3, 256, 256, generator=_gen(2))
    m = model("inversion", device)
    return decode_latent(m, encode_images(m, crops, aligned), "zero")


def check_inversion(model, device) -> torch.Tensor:
    crops = torch.rand(1, 3, 48, 56, generator=_gen(3))
    m = model("inversion", device)
    result = invert_images(m, crops, torch.rand(1, 3, 256, 256, generator=_gen(4)), steps=5, seed=0,
                           lpips_weight=0.0, mse_weight=1.0)
    return decode_latent(m, result.latent)  # the optimised noise maps


def check_video(model, device) -> torch.Tensor:
    frames = torch.rand(3, 3, 64, 80, generator=_gen(5))
    outs = process_video(model("edit_age", device), frames, 1.0, crop="none", chunk_size=2,
                         aligned=torch.rand(3, 256, 256, generator=_gen(6)))
    return torch.stack([o.frame for o in outs])


def check_tracked_video(model, device) -> torch.Tensor:
    """Every face of a group photo, tracked and pasted back with face masks and colour matching."""
    photo = group_photo(3)
    detector = LandmarkDetector([(128, 150), (384, 150), (640, 160)], 48.0)
    frames = torch.stack([photo, photo.roll(1, -1), photo.roll(-1, -2), photo])
    outs = process_video(model("edit_age", device), frames, 1.0, chunk_size=2, paste_back=True, faces="all",
                         detector=detector, paste=PasteOptions("face", 0.05, 0.0, True))
    return torch.stack([o.frame for o in outs])


def check_paste_faces(model, device) -> torch.Tensor:
    """prepare_face with given landmarks, encode, decode, paste back with the face mask (CPU frames)."""
    photo = group_photo(1)
    face = Face.from_landmarks(synthetic_landmarks(128, 150, 48.0))
    prepared = prepare_face(photo, face, redetect=False)
    crop = CropInfo.from_prepared([prepared], frames=photo[None])
    m = model("inversion", device)
    latent = encode_images(m, prepared.crop[None], prepared.aligned[None], crop=crop)
    return crop.paste(decode_latent(m, latent, "zero"))


def check_translation(model, device) -> torch.Tensor:
    sketch = torch.rand(1, 1, 64, 64, generator=_gen(7))
    labels = torch.randint(0, 19, (1, 64, 64), generator=_gen(8))
    low = torch.rand(1, 3, 16, 16, generator=_gen(9))
    aligned = torch.rand(1, 3, 256, 256, generator=_gen(10))
    a = sketch_to_face(model("sketch2face", device), sketch, number=2, noise="zero").cpu()
    b = mask_to_face(model("mask2face", device), labels, number=2, noise="zero").cpu()
    c = super_resolve(model("sr", device), low, factor=16, aligned01=aligned, crop=False, noise="zero").cpu()
    return torch.cat([a.flatten(), b.flatten(), c.flatten()])


CHECKS = [  # name, function, tolerance (max |device - cpu|)
    ("encode + decode (padded crops, batch 2)", check_encode_decode, 2e-4),
    ("inversion, 5 steps (MSE), decoded with its noise", check_inversion, 2e-3),
    ("video edit, 3 frames in chunks of 2", check_video, 2e-4),
    ("tracked video, 3 faces pasted with masks and colour matching", check_tracked_video, 2e-3),
    ("face crop -> encode -> decode -> paste with the face mask", check_paste_faces, 2e-4),
    ("sketch / mask to face, super-resolution x16", check_translation, 2e-4),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cache: dict = {}

    def model(family: str, where):
        key = (family, str(where))
        if key not in cache:
            cache[key] = random_model(family, seed=3).to(where)
        return cache[key]

    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    passed = failed = 0
    for name, check, tol in CHECKS:
        t0 = time.perf_counter()
        expected = check(model, torch.device("cpu")).float()
        cpu_s = time.perf_counter() - t0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        try:
            got = check(model, device).float().cpu()
        except Exception as e:  # noqa: BLE001 - reported as a failure of this check
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            continue
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dev_s = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
        diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
        ok = diff <= tol and bool(torch.isfinite(got).all())
        passed += ok
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| {diff:.2e} (tolerance {tol:.0e}), "
              f"cpu {cpu_s:.2f} s, {device.type} {dev_s:.2f} s, peak {peak:.0f} MiB")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
