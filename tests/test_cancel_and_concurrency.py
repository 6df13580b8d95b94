"""Cancel and failure, threads sharing one model, and seeded determinism.

Beyond test_inversion (cancel after 2 steps), test_video (errors that name the frame while reading,
checking and rendering; a RuntimeError in the video CLI) and test_translation (same / other seed of
sketch_to_face): cancelling at step 0, 1 and k leaves the model bit-identical *and* gives the fresh
result afterwards; the invert and video commands leave nothing behind on an error or Ctrl-C at any
stage; frame indices for crop and paste-back failures; concurrent use of one model; independence
from the global RNG.
"""

import threading

import numpy as np
import pytest
import torch
from helpers import FixedFaceDetector

import styleganex.faces as faces_pkg
from styleganex.base.errors import Cancelled, InputError
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.faces import CropRecord
from styleganex.model.network import StyleGANEX
from styleganex.pipelines.inversion import optimize
from styleganex.pipelines.lpips import load_lpips
from styleganex.pipelines.translation import mask_to_face, sketch_to_face, super_resolve
from styleganex.pipelines.video import VideoRenderer, process_video


@pytest.fixture(scope="module")
def inv():
    return random_model("inversion", size=256, seed=21)


@pytest.fixture(scope="module")
def lp():
    return load_lpips(random_backbone=True)


def frame32(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 32, 32, generator=g) * 2 - 1


def snapshot(model):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    return weights, {n: p.requires_grad for n, p in model.named_parameters()}


def assert_same_model(model, snap):
    state, flags = snap
    now = model.state_dict()
    assert now.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(now[k], v), k
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())


def same_result(a, b):
    assert a.history == b.history
    pairs = [(a.latent.wplus, b.latent.wplus), (a.latent.f, b.latent.f), *zip(a.latent.noise, b.latent.noise)]
    return all(torch.equal(x, y) for x, y in pairs)


# ---- cancel and failure ------------------------------------------------------------------------------------
@pytest.mark.parametrize("at", [0, 1, 3])
def test_cancel_optimize_at_step_k_leaves_the_model_untouched_and_usable(inv, lp, at):
    frame = frame32(1)
    fresh = optimize(inv, frame, steps=5, seed=3, lpips=lp)
    snap = snapshot(inv)
    lp_state = {k: v.clone() for k, v in lp.state_dict().items()}
    done = []
    with pytest.raises(Cancelled):
        optimize(inv, frame, steps=5, seed=3, lpips=lp, progress=lambda d, t, i: done.append(d),
                 cancel=lambda: len(done) >= at)
    assert done == list(range(1, at + 1))  # stopped before step at + 1
    assert_same_model(inv, snap)
    assert all(torch.equal(v, lp.state_dict()[k]) for k, v in lp_state.items())
    assert all(not p.requires_grad and p.grad is None for p in lp.parameters())
    again = optimize(inv, frame, steps=5, seed=3, lpips=lp)
    assert same_result(fresh, again)


def test_cancel_sketch_to_face_then_the_same_result():
    s2f = random_model("sketch2face", size=256, seed=22)
    sketch = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    fresh = sketch_to_face(s2f, sketch, number=6, seed=4)
    snap = snapshot(s2f)
    with pytest.raises(Cancelled):
        sketch_to_face(s2f, sketch, number=6, seed=4, cancel=iter([False, True]).__next__)
    assert_same_model(s2f, snap)
    assert torch.equal(sketch_to_face(s2f, sketch, number=6, seed=4), fresh)


@pytest.fixture()
def invert_setup(tmp_path, monkeypatch, inv, lp):
    """A tiny model file, a 40x48 photo, LPIPS with a random backbone (no VGG file)."""
    from PIL import Image

    from styleganex.pipelines import lpips as lpips_loss
    monkeypatch.setattr(lpips_loss, "load_lpips", lambda *a, **k: lp)
    model_path = save_official_pt(inv, tmp_path / "tiny_inversion.pt")
    photo = tmp_path / "face.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    argv = ["invert", str(photo), "--model", str(model_path), "--out", str(out), "--steps", "3", "--no-face"]
    return argv, out


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cli_invert_writes_all_four_files(invert_setup):
    from styleganex.cli import main
    argv, out = invert_setup
    assert main(argv) == 0
    assert _listing(out) == ["face_crop.json", "face_crop.png", "face_inversion.png", "face_latent.safetensors"]


@pytest.mark.parametrize("where, exc, rc", [
    ("optimisation step 2", KeyboardInterrupt, 130),
    ("optimisation step 2", RuntimeError, None),
    ("decoding the result", RuntimeError, None),
    ("writing the crop png", OSError, 2),  # an OS error is one clear line and status 2
])
def test_cli_invert_failure_leaves_no_output(invert_setup, monkeypatch, where, exc, rc):
    from PIL import Image

    from styleganex.cli import main
    from styleganex.commands import invert_edit
    argv, out = invert_setup
    if where.startswith("optimisation"):
        def bar_call(self, done, total=None, info=None):
            if done == 2:
                raise exc("injected")
        monkeypatch.setattr(invert_edit.ProgressBar, "__call__", bar_call)
    elif where.startswith("decoding"):
        def decode(self, *a, **k):
            raise exc("injected")
        monkeypatch.setattr(StyleGANEX, "decode", decode)
    else:  # the third of four files: the latent and the inversion png once stayed behind
        real_save = Image.Image.save

        def save(self, fp, *a, **k):
            if "face_crop.png" in str(fp):
                raise exc("disk full (injected)")
            return real_save(self, fp, *a, **k)
        monkeypatch.setattr(Image.Image, "save", save)
    if rc is None:
        with pytest.raises(exc, match="injected"):
            main(argv)
    else:
        assert main(argv) == rc
    assert _listing(out) == []  # no file, no hidden temporary file


@pytest.mark.parametrize("exc, rc", [(InputError, 2), (KeyboardInterrupt, 130)])
def test_cli_video_failure_mid_way_leaves_no_output(video_setup, monkeypatch, capsys, exc, rc):
    from styleganex.cli import main
    from styleganex.io.video_files import probe_video
    argv, out = video_setup
    assert main(argv) == 0 and probe_video(out).n_frames == 6  # the harness works: a full video
    out.unlink()
    calls = {"n": 0}
    real = VideoRenderer.render

    def render(self, crops):
        calls["n"] += 1
        if calls["n"] == 4:  # chunks of 1 on the CPU: frame 3
            raise exc("injected failure")
        return real(self, crops)
    monkeypatch.setattr(VideoRenderer, "render", render)
    assert main(argv) == rc
    if exc is InputError:
        assert "frame 3: injected failure" in capsys.readouterr().err
    assert _listing(out.parent) == []  # no result.mp4, no hidden .part file


def frames(n, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=g) for _ in range(n)]


ALIGNED = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(9))


@pytest.fixture(scope="module")
def edit():
    return random_model("edit_age", size=256, seed=24)


def test_paste_back_failure_in_frame_i_names_frame_i(edit, monkeypatch):
    record = CropRecord((40, 48), 1.0, (40, 48), (8, 0, 40, 32))
    real = faces_pkg.paste_back
    calls = {"n": 0}

    def paste(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("paste failed")
        return real(*a, **k)
    monkeypatch.setattr(faces_pkg, "paste_back", paste)
    got = []
    with pytest.raises(RuntimeError, match="frame 5: paste failed") as e:
        for out in process_video(edit, frames(9), 1.0, crop=record, aligned=ALIGNED, chunk_size=4, paste_back=True):
            got.append(out)
    assert e.value.frame_index == 5 and len(got) == 5


def test_crop_failure_in_frame_i_names_frame_i(edit):
    class Flaky(FixedFaceDetector):
        calls = 0

        def detect(self, image):
            Flaky.calls += 1
            # frame 7: frame 0 is searched three times (start, its crop again for x̃ as the release does,
            # track), then one search per frame
            if Flaky.calls == 10:
                raise RuntimeError("detector crashed")
            return super().detect(image)
    got = []
    with pytest.raises(RuntimeError, match="frame 7: detector crashed") as e:
        for out in process_video(edit, frames(10, 48, 64), 1.0, crop="track", detector=Flaky(), chunk_size=3):
            got.append(out)
    assert e.value.frame_index == 7 and len(got) == 6  # frames 0-5 (frames 6 and 7 were one chunk)


# ---- threads -----------------------------------------------------------------------------------------------
def _in_threads(*jobs, repeat=3):
    """Run the jobs at the same time (a barrier starts them together), each ``repeat`` times;
    return each job's last result (or raise the first error)."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i):
        try:
            barrier.wait()
            for _ in range(repeat):
                results[i] = jobs[i]()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


def test_two_threads_encode_and_decode_with_one_model(inv):
    g = torch.Generator().manual_seed(3)
    inputs = [(torch.rand(1, 3, 64, 48, generator=g) * 2 - 1, torch.rand(1, 3, 64, 64, generator=g) * 2 - 1)
              for _ in range(2)]
    jobs = [lambda x=x, a=a: inv.decode(inv.encode(x, a)) for x, a in inputs]
    sequential = [job() for job in jobs]
    parallel = _in_threads(*jobs)
    assert all(torch.equal(p, s) for p, s in zip(parallel, sequential))
    assert not torch.equal(sequential[0][..., :48], sequential[1][..., :48])


def test_two_threads_sketch_to_face_and_batch_statistics_stay_per_thread():
    """sketch_to_face runs the encoder on batch statistics (a context variable); another thread using
    the same model with running statistics at the same time is not affected, and vice versa."""
    s2f = random_model("sketch2face", size=256, seed=25)
    sketch = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(4))
    jobs = [lambda: sketch_to_face(s2f, sketch, number=2, seed=1),
            lambda: sketch_to_face(s2f, sketch, number=2, seed=2),
            lambda: s2f.decode(s2f.encode(sketch, batch_stats=False))]
    sequential = [job() for job in jobs]
    parallel = _in_threads(*jobs)
    assert all(torch.equal(p, s) for p, s in zip(parallel, sequential))
    assert not torch.equal(sequential[0], sequential[1])


def test_optimize_in_one_thread_while_another_decodes(inv, lp):
    frame = frame32(5)
    lat = inv.encode(frame32(6))
    jobs = [lambda: optimize(inv, frame, steps=2, seed=1, lpips=lp).latent.wplus,
            lambda: inv.decode(lat)]
    sequential = [job() for job in jobs]
    parallel = _in_threads(*jobs, repeat=2)
    assert all(torch.equal(p, s) for p, s in zip(parallel, sequential))


# ---- determinism -------------------------------------------------------------------------------------------
def _under_global_seeds(call):
    """The result twice, with different global RNG states before each call."""
    torch.manual_seed(1)
    a = call()
    torch.manual_seed(2)
    torch.rand(17)
    b = call()
    return a, b


def test_optimize_seed_is_bit_identical_whatever_the_global_rng(inv, lp):
    frame = frame32(7)
    a, b = _under_global_seeds(lambda: optimize(inv, frame, steps=3, seed=11, lpips=lp))
    assert same_result(a, b)
    c = optimize(inv, frame, steps=3, seed=12, lpips=lp)
    assert not torch.equal(a.latent.wplus, c.latent.wplus) and a.history != c.history


@pytest.mark.parametrize("pipeline", ["sketch_to_face", "mask_to_face", "super_resolve"])
def test_translation_seed_is_bit_identical_whatever_the_global_rng(pipeline):
    g = torch.Generator().manual_seed(8)
    if pipeline == "sketch_to_face":
        model, x = random_model("sketch2face", size=256, seed=26), torch.rand(1, 1, 32, 32, generator=g)
        run = lambda seed, noise="random": sketch_to_face(model, x, number=2, seed=seed, noise=noise)  # noqa: E731
    elif pipeline == "mask_to_face":
        model, x = random_model("mask2face", size=256, seed=27), torch.randint(0, 19, (1, 32, 32), generator=g)
        run = lambda seed, noise="random": mask_to_face(model, x, number=2, seed=seed, noise=noise)  # noqa: E731
    else:
        model, x = random_model("sr", size=256, seed=28), torch.rand(1, 3, 8, 8, generator=g)
        al = torch.rand(1, 3, 64, 64, generator=g)
        run = lambda seed, noise="random": super_resolve(model, x, 16, aligned01=al, seed=seed, noise=noise,  # noqa: E731
                                                         crop=False)
    a, b = _under_global_seeds(lambda: run(5))
    assert torch.equal(a, b)
    other = run(6)
    assert (a - other).abs().max() > 1e-3
    if pipeline == "super_resolve":  # the seed only draws the decoder noise
        assert torch.equal(run(5, "zero"), run(6, "zero"))
