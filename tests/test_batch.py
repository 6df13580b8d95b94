"""Batch jobs (issue 23): ``python -m styleganex batch COMMAND`` over a folder of photos, in one process
and as a two-process gloo torchrun job, resumable, one bad file never stopping the rest.

The folder holds eight photos: four of scikit-image's astronaut at different sizes (one in a
sub-folder, one mirrored), a corrupt JPEG, a photo with no face, one over the pixel cap and one too small
to align. Models are small random ones (``styleganex.dev.testing.random_model``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
from PIL import Image

from styleganex.base.errors import InputError
from styleganex.cli import main
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.jobs import Shard, current_shard, list_inputs, parse_shard, read_log

ROOT = Path(__file__).resolve().parents[1]
GOOD = ["a0.png", "a1.png", "a2.png", "sub/flip.jpg"]
BAD = {"corrupt.jpg": "not a readable image", "noface.png": "no face", "big.png": "more than the limit",
       "tiny.png": ""}
MAX_PIXELS = "70000"  # big.png (400 x 400) is over it, the others under


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The photo folder and the model files."""
    from skimage import data

    root = tmp_path_factory.mktemp("batch")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    astro = Image.fromarray(data.astronaut())
    for name, side in zip(GOOD[:3], (224, 240, 256)):
        astro.resize((side, side), Image.BICUBIC).save(photos / name)
    astro.resize((248, 248), Image.BICUBIC).transpose(Image.FLIP_LEFT_RIGHT).save(photos / "sub" / "flip.jpg")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not a jpeg" * 20)
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photos / "noface.png")
    astro.resize((400, 400)).save(photos / "big.png")
    astro.resize((40, 40)).save(photos / "tiny.png")
    (photos / ".hidden.png").write_bytes((photos / "a0.png").read_bytes())  # hidden files are no inputs
    sr = save_official_pt(random_model("sr", size=256, seed=1), root / "sr.pt")
    inv = save_official_pt(random_model("inversion", size=256, seed=2), root / "inv.pt")
    return root, photos, sr, inv


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
            "GLOO_SOCKET_IFNAME": "lo"}


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _torchrun(*argv, nproc=2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "styleganex", *map(str, argv)]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=240, cwd=ROOT)


def _files(folder: Path) -> dict[str, bytes]:
    """Every output file (not the log) by relative name, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "batch_log.jsonl"}


def _by_input(log: Path, photos: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in read_log(log):
        out.setdefault(Path(e["input"]).resolve().relative_to(photos.resolve()).as_posix(), []).append(e)
    return out


def _check_log_and_summary(log: Path, photos: Path, summary: str, errors: str) -> None:
    entries = _by_input(log, photos)
    assert sorted(entries) == sorted([*GOOD, *BAD]), "every input has a line, hidden files none"
    for name in GOOD:
        assert [e["status"] for e in entries[name]] == ["done"], name
        assert all(Path(p).is_file() for p in entries[name][-1]["output"])
    for name, words in BAD.items():
        (entry,) = entries[name]
        assert entry["status"] == "failed" and entry["error"] and words in entry["error"], entry
        assert name in errors.replace("\\", "/"), f"{name} is not named in the summary"
    assert summary.strip().splitlines()[-1] == f"{len(GOOD)} done, 0 skipped, {len(BAD)} failed"


# ============================================================ the inputs and the shares
def test_inputs_folder_glob_and_list_give_relative_names(tmp_path):
    (tmp_path / "in" / "x").mkdir(parents=True)
    for name in ("b.png", "x/a.jpg", "x/.tmp.png", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"")
    folder = list_inputs(tmp_path / "in")
    assert [str(i.rel) for i in folder] == ["b.png", "x/a.jpg"]
    pattern = list_inputs(str(tmp_path / "in" / "**" / "*.jpg"))
    assert [(i.rel, i.source.name) for i in pattern] == [(PurePosixPath("x/a.jpg"), "a.jpg")]
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("# photos\nx/a.jpg\n\nb.png\nmissing/c.png\n")
    named = list_inputs(listing)
    assert [str(i.rel) for i in named] == ["b.png", "missing/c.png", "x/a.jpg"]  # a missing one fails in the run
    (tmp_path / "in" / "b.jpg").write_bytes(b"")
    listing.write_text("b.png\n./b.png\n")
    with pytest.raises(InputError, match="same name"):
        list_inputs(listing)
    with pytest.raises(InputError, match="holds no input"):
        list_inputs(str(tmp_path / "in" / "*.webp"))


@pytest.mark.parametrize("n, size, count", [(8, 1, 2), (9, 2, 2), (10, 3, 3), (5, 4, 3)])
def test_shares_cover_every_input_once_in_whole_batches(n, size, count):
    seen = []
    for index in range(count):
        batches = Shard(index, count).batches(n, size)
        assert all(b.start % size == 0 and len(b) <= size for b in batches)
        seen += [i for b in batches for i in b]
    assert sorted(seen) == list(range(n))


def test_shard_from_torchrun_environment_and_option(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert current_shard("1/3") == Shard(index=3, count=6, local_rank=1, world_size=2, rank=1)
    for bad in ("2/2", "1", "a/b", "-1/2"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad)


# ============================================================ one process, two processes
@pytest.mark.slow  # 35-50 s on two busy cores: a torchrun job starts two Pythons with torch
@pytest.mark.parametrize("command", ["sr", "invert"])
def test_one_process_and_two_rank_torchrun_give_the_same_bytes(job, command, capsys):
    root, photos, sr, inv = job
    options = ["--model", sr, "--factor", "4"] if command == "sr" else ["--model", inv, "--steps", "0"]
    one, two = root / f"{command}_one", root / f"{command}_two"
    rc, out, err = _cli(capsys, "batch", command, "--inputs", photos, "--out", one, *options,
                        "--max-pixels", MAX_PIXELS, "--no-progress")
    assert rc == 1  # some failed
    _check_log_and_summary(one / "batch_log.jsonl", photos, out, err)

    run = _torchrun("batch", command, "--inputs", photos, "--out", two, *options, "--max-pixels", MAX_PIXELS,
                    "--no-progress")
    assert run.returncode != 0, run.stderr
    _check_log_and_summary(two / "batch_log.jsonl", photos, run.stdout, run.stderr)
    shards = {e["shard"] for e in read_log(two / "batch_log.jsonl")}
    assert shards == {"0/2", "1/2"}, "both ranks worked"
    assert run.stdout.count("done,") == 1, "rank 0 alone prints the totals"

    first = _files(one)
    assert len([name for name in first if name.endswith(".png")]) >= len(GOOD)
    assert _files(two) == first, "the same files, byte for byte"

    rc, out, _ = _cli(capsys, "batch", command, "--inputs", photos, "--out", one, *options,
                      "--max-pixels", MAX_PIXELS, "--no-progress")
    assert out.strip().splitlines()[-1] == f"0 done, {len(GOOD)} skipped, {len(BAD)} failed"
    assert _files(one) == first


def test_batch_sr_is_the_single_file_command(job, capsys, tmp_path):
    root, photos, sr, _ = job
    rc, _, _ = _cli(capsys, "sr", photos / "a1.png", "--model", sr, "--factor", "4", "--out", tmp_path / "one.png")
    assert rc == 0
    rc, _, _ = _cli(capsys, "batch", "sr", "--inputs", str(photos / "a1.png"), "--out", tmp_path / "batch",
                    "--model", sr, "--factor", "4", "--no-progress")
    assert rc == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "batch" / "a1.png").read_bytes()


def test_shards_0_of_2_and_1_of_2_cover_every_input_once(job, capsys, tmp_path):
    root, photos, sr, _ = job
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        _cli(capsys, "batch", "sr", "--inputs", photos, "--out", out, "--model", sr, "--factor", "4",
             "--max-pixels", MAX_PIXELS, "--shard", shard, "--no-progress")
    entries = read_log(out / "batch_log.jsonl")
    names = [Path(e["input"]).resolve().relative_to(photos.resolve()).as_posix() for e in entries]
    assert sorted(names) == sorted([*GOOD, *BAD]), "each input exactly once"
    by_shard = {s: {n for n, e in zip(names, entries) if e["shard"] == s} for s in ("0/2", "1/2")}
    assert by_shard["0/2"] and by_shard["1/2"] and not by_shard["0/2"] & by_shard["1/2"]


# ============================================================ killed, interrupted, stopped
def test_a_run_killed_midway_restarts_to_the_same_outputs(job, capsys, tmp_path):
    root, photos, sr, _ = job
    reference = tmp_path / "reference"
    args = ["--inputs", photos, "--model", sr, "--factor", "4", "--max-pixels", MAX_PIXELS, "--no-progress"]
    _cli(capsys, "batch", "sr", "--out", reference, *args)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "styleganex", "batch", "sr", "--out", str(killed),
                             *map(str, args)], env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    log = killed / "batch_log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and '"done"' in log.read_text():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = [p.relative_to(killed).as_posix() for p in killed.rglob("*.png")]
    assert 1 <= len(left) < len(GOOD), f"killed after {left}: not midway"
    for name in left:  # what is there is complete
        Image.open(killed / name).load()

    rc, out, _ = _cli(capsys, "batch", "sr", "--out", killed, *args)
    assert out.strip().splitlines()[-1] == f"{len(GOOD) - len(left)} done, {len(left)} skipped, {len(BAD)} failed"
    assert _files(killed) == _files(reference)
    assert not [p for p in killed.rglob(".*") if p.is_file()], "no temporary files left"


def test_ctrl_c_mid_item_leaves_no_partial_output_and_a_rerun_finishes(job, capsys, tmp_path, monkeypatch):
    root, photos, _, inv = job
    from styleganex.base import outputs

    args = ["batch", "invert", "--inputs", photos, "--model", inv, "--steps", "0", "--max-pixels", MAX_PIXELS,
            "--no-progress"]
    real, calls = outputs.os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 6:  # the second photo's files: two renamed, then Ctrl-C
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    rc, _, err = _cli(capsys, *args, "--out", tmp_path / "out")
    assert rc == 130 and "interrupted" in err
    monkeypatch.setattr(outputs.os, "replace", real)
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"a0_latent.safetensors", "a0_crop.json"} <= names and "a1_latent.safetensors" not in names
    assert not [n for n in names if n.endswith(".partial")]
    rc, out, _ = _cli(capsys, *args, "--out", tmp_path / "out")
    assert out.strip().splitlines()[-1] == f"{len(GOOD) - 1} done, 1 skipped, {len(BAD)} failed"


def test_max_failures_stops_early(job, capsys, tmp_path):
    root, photos, sr, _ = job
    rc, out, err = _cli(capsys, "batch", "sr", "--inputs", photos, "--out", tmp_path, "--model", sr, "--factor", "4",
                        "--max-pixels", MAX_PIXELS, "--max-failures", "1", "--no-progress")
    assert rc == 1 and "stopped early" in out
    entries = read_log(tmp_path / "batch_log.jsonl")
    assert [e["status"] for e in entries][-1] == "failed" and len(entries) < len(GOOD) + len(BAD)


def test_a_bad_model_is_one_error_before_any_item(job, capsys, tmp_path):
    root, photos, _, inv = job
    rc, _, err = _cli(capsys, "batch", "sr", "--inputs", photos, "--out", tmp_path, "--model", inv)
    assert rc == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "batch_log.jsonl").exists()


# ============================================================ prepare: the release's training images
def test_realign_quad_is_the_ffhq_square_grown_by_a_quarter():
    from styleganex.faces.align import realign_quad

    rng = np.random.default_rng(1)
    centre, angle, half = rng.uniform(100, 200, 2), 0.3, 80.0
    x = half * np.array([np.cos(angle), np.sin(angle)])
    y = np.array([-x[1], x[0]])
    quad = np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])
    grown = realign_quad(quad)
    np.testing.assert_allclose(grown.mean(axis=0), centre, atol=1e-9)
    np.testing.assert_allclose(grown - centre, 1.25 * (quad - centre), atol=1e-9)


def test_prepare_writes_the_release_sizes_with_the_ffhq_face_in_the_middle(job, capsys, tmp_path, astronaut):
    from styleganex.faces import align_face, detect_face

    root, photos, _, _ = job
    rc, out, _ = _cli(capsys, "prepare", photos / "a2.png", "--out", tmp_path)
    assert rc == 0
    big = np.asarray(Image.open(tmp_path / "realign1280x1280" / "a2.png"))
    small = np.asarray(Image.open(tmp_path / "realign320x320" / "a2.png"))
    assert big.shape == (1280, 1280, 3) and small.shape == (320, 320, 3)
    # the central 256 of the 320 image is the FFHQ-aligned face of the same landmarks
    from styleganex.io.images import load_image
    image = load_image(photos / "a2.png")
    aligned = align_face(image, detect_face(image), 256).permute(1, 2, 0).numpy() * 255
    assert np.abs(small[32:288, 32:288].astype(float) - aligned).mean() < 6.0
    # the 1280 image is the same picture at 4x
    shrunk = np.asarray(Image.fromarray(big).resize((320, 320), Image.LANCZOS)).astype(float)
    assert np.abs(shrunk - small).mean() < 3.0


def test_batch_prepare_names_the_bad_photos(job, capsys, tmp_path):
    root, photos, _, _ = job
    rc, out, err = _cli(capsys, "batch", "prepare", "--inputs", photos, "--out", tmp_path, "--sizes", "320",
                        "--max-pixels", MAX_PIXELS, "--no-progress")
    assert rc == 1
    written = sorted(p.relative_to(tmp_path / "realign320x320").as_posix() for p in tmp_path.rglob("*.png"))
    assert set(written) >= {"a0.png", "a2.png"} and "corrupt.png" not in written
    for name in ("corrupt.jpg", "noface.png", "big.png"):
        assert name in err
    assert json.loads((tmp_path / "batch_log.jsonl").read_text().splitlines()[0])["shard"] == "0/1"


# ============================================================ every command: batch runs the single-file work
@pytest.fixture(scope="module")
def other_inputs(job, tmp_path_factory):
    """Inputs and models of edit, sketch2face and mask2face: two of each, one in a sub-folder."""
    root = tmp_path_factory.mktemp("others")
    rng = np.random.default_rng(5)
    for kind in ("sketches", "masks", "latents"):
        (root / kind / "sub").mkdir(parents=True)
    for name in ("s0.png", "sub/s1.png"):
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), "L").save(root / "sketches" / name)
        Image.fromarray(rng.integers(0, 19, (64, 64), dtype=np.uint8), "L").save(root / "masks" / name)
    inv = random_model("inversion", size=256, seed=2)
    from styleganex.faces import CropInfo, prepare_center
    from styleganex.pipelines.encode_decode import encode_images
    from styleganex.pipelines.latent_files import save_latent
    for name, seed in (("p0_latent.safetensors", 0), ("sub/p1_latent.safetensors", 1)):
        photo = torch.rand(3, 64, 72, generator=torch.Generator().manual_seed(seed))
        prepared = prepare_center(photo)
        crop = CropInfo.from_prepared([prepared])
        latent = encode_images(inv, prepared.crop[None], prepared.aligned[None], crop=crop)
        save_latent(latent, root / "latents" / name)
    np.save(root / "smile.npy", rng.standard_normal(16).astype(np.float32))
    models = {name: save_official_pt(random_model(name, size=256, seed=4), root / f"{name}.pt")
              for name in ("sketch2face", "mask2face")}
    models["edit"] = job[3]
    return root, models


@pytest.mark.parametrize("command, folder, single_out, options", [
    ("edit", "latents", "{out}/{stem}.png", ["--direction", "{root}/smile.npy", "--strength", "2"]),
    ("sketch2face", "sketches", "{out}", ["--number", "2", "--seed", "3"]),
    ("mask2face", "masks", "{out}", ["--number", "2", "--seed", "3"]),
])
def test_every_batch_command_writes_what_the_single_command_writes(other_inputs, capsys, tmp_path, command, folder,
                                                                   single_out, options):
    root, models = other_inputs
    options = [o.format(root=root) for o in options] + ["--model", models[command]]
    rc, out, err = _cli(capsys, "batch", command, "--inputs", root / folder, "--out", tmp_path / "batch",
                        *options, "--no-progress")
    assert rc == 0, err
    assert out.strip().splitlines()[-1] == "2 done, 0 skipped, 0 failed"
    batch = _files(tmp_path / "batch")
    for source in sorted((root / folder).rglob("*.*")):
        rel = source.relative_to(root / folder)
        single = tmp_path / "single" / rel.parent
        stem = source.stem.removesuffix("_latent")
        rc, _, err = _cli(capsys, command, source, *options, "--out", single_out.format(out=single, stem=stem))
        assert rc == 0, err
        names = [p for p in sorted(single.iterdir()) if p.is_file()]
        assert names and all(batch[(rel.parent / p.name).as_posix()] == p.read_bytes() for p in names), rel


def test_batch_video_edits_each_video_whole(tmp_path, capsys, monkeypatch):
    from test_video import StubDetector

    import styleganex.faces.detect as detect
    import styleganex.faces.video_crop as video_crop
    from styleganex.io.video_files import read_video_frames, write_video

    for module in (detect, video_crop):
        monkeypatch.setattr(module, "default_detector", lambda: StubDetector())
    g = torch.Generator().manual_seed(0)
    (tmp_path / "clips" / "sub").mkdir(parents=True)
    for name in ("a.mp4", "sub/b.mov"):
        write_video(tmp_path / "clips" / name, [torch.rand(3, 48, 64, generator=g) for _ in range(3)], 6)
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    model = save_official_pt(random_model("edit_age", size=256, seed=23), tmp_path / "edit_age.pt")
    rc, out, err = _cli(capsys, "batch", "video", "--inputs", tmp_path / "clips", "--out", tmp_path / "out",
                        "--model", model, "--device", "cpu", "--no-progress")
    assert rc == 1 and out.strip().splitlines()[-1] == "2 done, 0 skipped, 1 failed" and "broken.mp4" in err
    for name in ("a.mp4", "sub/b.mov"):
        single = tmp_path / "single" / Path(name).name
        assert _cli(capsys, "video", tmp_path / "clips" / name, "--model", model, "--out", single)[0] == 0
        assert torch.equal(torch.stack(list(read_video_frames(tmp_path / "out" / name))),
                           torch.stack(list(read_video_frames(single))))


def test_tiny_batch_benchmark_runs(tmp_path, capsys):
    from benchmarks import batch as bench

    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--photos", "3", "--scale-photos", "0", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["batch"]["1"]
    assert row["photos"] == 3 and row["library_s"] > 0 and row["batch_s"] > 0
    assert abs(row["ratio"] - row["batch_s"] / row["library_s"]) < 1e-9
    assert "ratio" in capsys.readouterr().out
