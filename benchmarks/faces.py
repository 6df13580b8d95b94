"""Time of the face pre-processing per face on the CPU (one thread): ``prepare_face`` and its steps.

    python -m benchmarks.faces            # scikit-image's astronaut and matplotlib's Grace Hopper
    python -m benchmarks.faces --reps 15

Steps: ``detect`` (dlib on the photo: the crop parameters), ``crop`` (``apply_crop``, cv2.resize's
bilinear), ``redetect`` (dlib again on the crop, as the release), ``warp`` (the FFHQ alignment of the
crop, release arithmetic) and ``prepare_face`` as a whole. Fastest of ``--reps`` runs after a warm-up
(the least disturbed by other work on a shared machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def photos() -> dict:
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    from styleganex.io.images import from_uint8_hwc

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = np.asarray(Image.open(f).convert("RGB"))
    return {"astronaut": from_uint8_hwc(skimage.data.astronaut()), "grace_hopper": from_uint8_hwc(grace)}


def best_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from styleganex import faces

    print("| photo | detect | crop | redetect | warp | prepare_face | landmarks |")
    print("|---|---|---|---|---|---|---|")
    for name, image in photos().items():
        face = faces.detect_face(image)
        record = faces.crop_record(tuple(image.shape[-2:]), face)
        crop = faces.apply_crop(image, record)
        expected = record.face_in_crop(face)
        found = faces.redetect_face(crop, expected)
        used = found if found is not None else expected
        row = {
            "detect": best_ms(lambda: faces.detect_face(image), args.reps),
            "crop": best_ms(lambda: faces.apply_crop(image, record), args.reps),
            "redetect": best_ms(lambda: faces.redetect_face(crop, expected), args.reps),
            "warp": best_ms(lambda: faces.align_face(crop, used), args.reps),
            "prepare_face": best_ms(lambda: faces.prepare_face(image), args.reps),
        }
        source = "redetected" if found is not None else "mapped"
        print(f"| {name} | " + " | ".join(f"{v:.0f} ms" for v in row.values()) + f" | {source} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
