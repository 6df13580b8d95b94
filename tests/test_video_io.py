"""Tests for styleganex.io.video_files with small synthetic videos (PyAV, offline).

Tolerance for the H.264 round trip (crf 18, yuv420p, smooth content): mean absolute error per
frame < 0.02 and max absolute error < 0.1 (on 0..1 values). Measured: ~0.009 mean, ~0.05 max.
"""

import math
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from styleganex.io.video_files import (
    VideoError,
    VideoInfo,
    VideoNotFoundError,
    probe_video,
    read_video_frames,
    write_video,
)

FPS = 12
N_FRAMES = 12
SR = 44100
TONE_HZ = 440.0
MEAN_TOL = 0.02
MAX_TOL = 0.1


def gradient_frames(n=N_FRAMES, h=48, w=64):
    """Smoothly moving colour gradients (no sharp chroma edges, which 4:2:0 would blur)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    frames = []
    for i in range(n):
        phase = 2 * math.pi * i / n
        r = 0.5 + 0.35 * torch.sin(2 * math.pi * xx + phase)
        g = 0.3 + 0.4 * yy + 0.1 * torch.cos(2 * math.pi * yy + phase)
        b = 0.3 + 0.4 * xx * yy
        frames.append(torch.stack([r, g, b]).clamp(0, 1))
    return frames


def write_sine_wav(path, seconds=1.0, rate=SR, freq=TONE_HZ):
    samples = (0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate)
        stream.codec_context.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def decode_audio(path):
    """Mono float samples, sample rate and the stream's exact duration in samples."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        chunks = [f.to_ndarray()[0] for f in c.decode(stream)]  # AAC decodes to planar: [channels, n]
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        return np.concatenate(chunks), stream.codec_context.sample_rate, duration


def dominant_frequency(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[int(spectrum.argmax())]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    wav = folder / "tone.wav"
    write_sine_wav(wav)
    frames = gradient_frames()
    src = folder / "source.mp4"
    info = write_video(src, frames, FPS, audio_from=wav)
    return {"folder": folder, "wav": wav, "frames": frames, "src": src, "info": info}


def assert_frames_close(originals, decoded):
    assert len(originals) == len(decoded)
    for i, (a, b) in enumerate(zip(originals, decoded, strict=True)):
        b = b[:, : a.shape[1], : a.shape[2]]
        diff = (a - b).abs()
        assert float(diff.mean()) < MEAN_TOL, f"frame {i}: mean error {float(diff.mean()):.4f}"
        assert float(diff.max()) < MAX_TOL, f"frame {i}: max error {float(diff.max()):.4f}"


# ------------------------------------------------------------------ round trip


def test_round_trip(media):
    info = probe_video(media["src"])
    assert isinstance(info, VideoInfo)
    assert (info.n_frames, info.width, info.height) == (N_FRAMES, 64, 48)
    assert info.fps == pytest.approx(FPS)
    assert info.has_audio and info.codec == "h264"
    assert info.duration == pytest.approx(N_FRAMES / FPS, abs=0.05)
    assert media["info"].n_frames == N_FRAMES and media["info"].has_audio

    frames = list(read_video_frames(media["src"]))
    assert all(f.shape == (3, 48, 64) and f.dtype == torch.float32 for f in frames)
    assert all(0.0 <= float(f.min()) and float(f.max()) <= 1.0 for f in frames)
    assert_frames_close(media["frames"], frames)


def test_max_frames(media):
    assert len(list(read_video_frames(media["src"], max_frames=5))) == 5
    assert list(read_video_frames(media["src"], max_frames=0)) == []
    with pytest.raises(ValueError, match="max_frames"):
        read_video_frames(media["src"], max_frames=-1)


def test_fractional_fps_and_tensor_batch(tmp_path):
    frames = torch.stack(gradient_frames(n=6, h=32, w=32))
    out = tmp_path / "ntsc.mp4"
    write_video(out, frames, Fraction(30000, 1001))
    info = probe_video(out)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.n_frames == 6


def test_odd_size_is_padded_to_even(tmp_path):
    frames = gradient_frames(n=4, h=45, w=63)
    out = tmp_path / "odd.mp4"
    info = write_video(out, frames, FPS)
    assert (info.width, info.height) == (64, 46)
    assert (probe_video(out).width, probe_video(out).height) == (64, 46)
    decoded = list(read_video_frames(out))
    assert_frames_close(frames, decoded)
    # The padding repeats the last column/row.
    assert float((decoded[0][:, :45, 63] - frames[0][:, :, 62]).abs().mean()) < MEAN_TOL
    assert float((decoded[0][:, 45, :63] - frames[0][:, 44, :]).abs().mean()) < MEAN_TOL


# ------------------------------------------------------------------ audio


def test_audio_reencoded_from_wav(media):
    samples, rate, duration = decode_audio(media["src"])
    assert rate == SR
    assert duration == pytest.approx(N_FRAMES / FPS, abs=0.03)
    assert dominant_frequency(samples[: SR // 2], rate) == pytest.approx(TONE_HZ, abs=5)


def test_audio_kept_from_video_and_cut_to_length(media, tmp_path):
    frames = list(read_video_frames(media["src"]))
    full = tmp_path / "full.mp4"
    write_video(full, frames, FPS, audio_from=media["src"])
    assert probe_video(full).has_audio
    samples, rate, duration = decode_audio(full)
    assert duration == pytest.approx(1.0, abs=0.03)
    assert dominant_frequency(samples[: SR // 2], rate) == pytest.approx(TONE_HZ, abs=5)

    half = tmp_path / "half.mp4"
    write_video(half, frames[:6], FPS, audio_from=media["src"])
    _, _, duration = decode_audio(half)
    assert duration == pytest.approx(0.5, abs=0.03)


def test_no_audio(media, tmp_path):
    silent = tmp_path / "silent.mp4"
    info = write_video(silent, media["frames"][:3], FPS)
    assert not info.has_audio and not probe_video(silent).has_audio
    again = tmp_path / "again.mp4"
    info = write_video(again, media["frames"][:3], FPS, audio_from=silent)  # source without audio
    assert not info.has_audio and not probe_video(again).has_audio


# ------------------------------------------------------------------ atomic writing


def _failing_frames(frames, fail_at, exc):
    for i, f in enumerate(frames):
        if i == fail_at:
            raise exc
        yield f


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_mid_way_leaves_no_file(media, tmp_path, exc):
    out = tmp_path / "out.mp4"
    with pytest.raises(type(exc)):
        write_video(out, _failing_frames(media["frames"], 5, exc), FPS, audio_from=media["src"])
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_cancel_and_progress(media, tmp_path):
    from styleganex.base.errors import Cancelled

    seen = []
    out = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        write_video(out, media["frames"], FPS, progress=lambda d, t, info: seen.append((d, t)),
                    cancel=lambda: len(seen) >= 3)
    assert seen == [(1, N_FRAMES), (2, N_FRAMES), (3, N_FRAMES)]
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file(media, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        write_video(out, _failing_frames(media["frames"], 3, RuntimeError("stop")), FPS)
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


def test_write_argument_errors(media, tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="no frames"):
        write_video(out, [], FPS)
    mixed = [media["frames"][0], torch.rand(3, 32, 32)]
    with pytest.raises(ValueError, match="same size"):
        write_video(out, mixed, FPS)
    with pytest.raises(ValueError, match=r"\[3,H,W\]"):
        write_video(out, [torch.rand(5, 8, 8)], FPS)
    with pytest.raises(ValueError, match="fps"):
        write_video(out, media["frames"], 0)
    with pytest.raises(VideoNotFoundError):
        write_video(tmp_path / "missing_dir" / "x.mp4", media["frames"], FPS)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ unreadable inputs


def test_text_file_is_video_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match="notes.mp4"):
        probe_video(text)
    with pytest.raises(VideoError, match="notes.mp4"):
        read_video_frames(text)
    assert issubclass(VideoError, ValueError)


def test_audio_only_and_missing_and_corrupt(media, tmp_path):
    with pytest.raises(VideoError, match="no video stream"):
        probe_video(media["wav"])
    with pytest.raises(VideoNotFoundError, match="nothing.mp4") as info:
        probe_video(tmp_path / "nothing.mp4")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, VideoError)
    with pytest.raises(VideoError):
        write_video(tmp_path / "x.mp4", media["frames"], FPS, audio_from=tmp_path / "nothing.wav")

    data = media["src"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[:2000])  # header intact, frame data cut off
    with pytest.raises(VideoError, match="truncated.mp4"):
        list(read_video_frames(truncated))
