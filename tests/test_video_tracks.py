"""Every face through a video: tracks per person, smoothed masks and colours, frames without a
detection carried over, and a state that continues in the next chunk; flicker measured on a clip of
a still group photo moved by a few pixels per frame (dlib detects the faces in every frame; the
decoder is replaced by the identity so that any flicker comes from the tracking and the paste)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import styleganex.pipelines.video as video_module
from styleganex.base.errors import InputError, NoFaceError
from styleganex.dev.testing import group_photo, random_model, synthetic_landmarks
from styleganex.faces import DlibDetector, Face, FaceSelection, FaceTracker, PasteOptions, VideoState
from styleganex.faces.motion import face_samples, fit_similarity, refine_motion
from styleganex.pipelines.video import process_video

pytest.importorskip("dlib")

MARGIN = 6
SHIFTS = [(0, 0), (1, 2), (-2, 0), (2, -1), (0, 1), (-1, -2), (2, 2), (-2, 1), (1, -1), (0, 0)]


def _clip(shifts=SHIFTS, faces=3):
    """Frames [T, 3, 352, 256 * faces] of the group photo seen through a window moved by (dx, dy)."""
    photo = group_photo(faces)
    big = F.pad(photo[None], (MARGIN,) * 4, mode="replicate")[0]
    h, w = photo.shape[-2:]
    return torch.stack([big[:, MARGIN + dy:MARGIN + dy + h, MARGIN + dx:MARGIN + dx + w] for dx, dy in shifts])


def _unshift(x, dx, dy, keep=2):
    """The part of a frame that every window shows, in the photo's coordinates."""
    h, w = x.shape[-2:]
    return x[..., keep - dy:h - keep - dy, keep - dx:w - keep - dx]


def _identity(self, crops):
    return crops.clone()


@pytest.fixture()
def identity_decoder(monkeypatch):
    """The video renderer returns its crops: a decode that is the identity (paste-back takes any size)."""
    monkeypatch.setattr(video_module.VideoRenderer, "render", _identity)


@pytest.fixture(scope="module")
def edit_model():
    return random_model("edit_age", seed=1)


class _Detector:
    """dlib, with chosen frames answered by nothing (a missed detection)."""

    def __init__(self, blind=()):
        self.dlib, self.blind, self.calls = DlibDetector(), set(blind), 0

    def detect(self, image):
        self.calls += 1
        return [] if self.calls - 1 in self.blind else self.dlib.detect(image)


def _run(frames, model, state, chunk=4, **options):
    options = {"faces": "all", "paste": PasteOptions("face", 0.05, 0.0, True), **options}
    out = list(process_video(model, frames, 0.0, chunk_size=chunk, paste_back=True, state=state, **options))
    return torch.stack([o.frame for o in out]), torch.stack([o.mask for o in out])


@pytest.fixture(scope="module")
def shifted_run(edit_model):
    """The clip processed in two chunks (5 + 5 frames, chunk size 4), the state carried between them."""
    mp = pytest.MonkeyPatch()
    mp.setattr(video_module.VideoRenderer, "render", _identity)
    try:
        frames = _clip()
        state = VideoState()
        first = _run(frames[:5], edit_model, state)
        state_after_first = state.copy()
        second = _run(frames[5:], edit_model, state)
    finally:
        mp.undo()
    return frames, torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]]), state, state_after_first


def test_flicker_of_a_still_photo_moved_by_a_few_pixels(shifted_run):
    """Outside the faces the pasted frames are the (moved) photo: temporal standard deviation 0 after
    undoing the move (bound 1/255); in the masks' fades and inside, well under 1/255 on average."""
    frames, pasted, masks, state, _ = shifted_run
    assert [t.id for t in state.tracks] == [0, 1, 2] and state.frames_seen == len(SHIFTS)
    steady = torch.stack([_unshift(p, dx, dy) for p, (dx, dy) in zip(pasted, SHIFTS)])
    where = torch.stack([_unshift(m, dx, dy) for m, (dx, dy) in zip(masks, SHIFTS)])[:, 0]
    assert float(torch.stack([_unshift(f, dx, dy) for f, (dx, dy) in zip(frames, SHIFTS)]).std(0).max()) == 0
    spread = steady.std(0).amax(0)  # per pixel, the largest over the colours
    outside = where.amax(0) == 0
    inside = where.amin(0) >= 0.999
    fade = ~outside & ~inside
    assert outside.float().mean() > 0.5 and inside.any() and fade.any()
    assert float(spread[outside].max()) <= 1 / 255
    assert float(spread[fade].mean()) <= 1 / 255
    assert float(spread[inside].mean()) <= 1 / 255


def test_mask_edge_moves_with_the_photo(shifted_run):
    """The masks, moved back by the photo's shift, keep their border within one pixel: every pixel that
    changes sides of the 0.5 level lies within 1 px of frame 0's border."""
    _, _, masks, _, _ = shifted_run
    where = torch.stack([_unshift(m, dx, dy) for m, (dx, dy) in zip(masks, SHIFTS)])
    first = (where[0] >= 0.5).float()[None]
    near = (F.max_pool2d(first, 3, 1, 1) - (-F.max_pool2d(-first, 3, 1, 1)))[0] > 0
    for t in range(1, len(SHIFTS)):
        flips = (where[t] >= 0.5) ^ (where[0] >= 0.5)
        assert not (flips & ~near).any(), f"frame {t}: the mask border moved more than 1 px beyond the shift"


def test_chunks_continue_without_a_jump(shifted_run, edit_model, identity_decoder):
    """One run over all frames and two chunks with the state in between give the same frames."""
    frames, pasted, masks, _, after_first = shifted_run
    whole, whole_masks = _run(frames, edit_model, VideoState())
    assert torch.allclose(whole, pasted, atol=1e-6) and torch.allclose(whole_masks, masks, atol=1e-6)
    # the state given to the second chunk was used, not a fresh start: starting fresh on frame 5 differs
    fresh, _ = _run(frames[5:], edit_model, VideoState())
    assert (fresh - pasted[5:]).abs().max() > 1e-3
    assert after_first.frames_seen == 5 and [t.id for t in after_first.tracks] == [0, 1, 2]


def test_frames_without_a_detection_are_carried_over(edit_model, identity_decoder):
    frames = _clip(SHIFTS[:5])
    blind = _Detector(blind={2, 3})  # dlib finds nothing in frames 2 and 3
    state = VideoState()
    pasted, masks = _run(frames, edit_model, state, detector=blind)
    reference, ref_masks = _run(frames, edit_model, VideoState())
    assert len(state.tracks) == 3
    # the faces were followed on their pixels: the same masks and frames as with the detections
    for t in (2, 3):
        assert masks[t].amax() > 0.99
        assert (masks[t] - ref_masks[t]).abs().max() < 0.2
        assert (pasted[t] - reference[t]).abs().mean() < 1 / 255
    # a face covered up (and not detected) keeps its last mask until max_missing frames have passed
    covered = frames.clone()
    covered[3:, :, :, 256:512] = 0.5
    state = VideoState()
    pasted, masks = _run(covered, edit_model, state, detector=_Detector(), max_missing=1)
    middle = masks[:, 0, :, 256:512]
    assert middle[2].amax() > 0.99 and middle[3].amax() > 0.99  # carried over one frame
    assert middle[4].amax() == 0 and torch.equal(pasted[4, :, :, 256:512], covered[4, :, :, 256:512])  # resting
    assert state.track(1).missing == 2


def test_chosen_faces_and_faces_that_appear_later(edit_model, identity_decoder):
    frames = _clip(SHIFTS[:4])
    late = frames.clone()
    late[:2, :, :, 512:] = 0.5  # the third person walks in at frame 2
    state = VideoState()
    _, masks = _run(late, edit_model, state)
    assert [t.id for t in state.tracks] == [0, 1, 2]
    assert masks[1, 0, :, 512:].amax() == 0 and masks[2, 0, :, 512:].amax() > 0.99
    # index-map numbers of the first frame: only the middle person
    state = VideoState()
    _, masks = _run(frames, edit_model, state, faces="1")
    assert [t.id for t in state.tracks] == [1]
    assert masks[:, 0, :, :256].amax() == 0 and masks[:, 0, :, 256:512].amax() > 0.99
    # frames before the first face pass through; a run that never finds a face then fails with the reason
    state = VideoState()
    blank = torch.full((3, 3, 64, 64), 0.5)
    got = []
    with pytest.raises(NoFaceError, match="no usable face in any of the 3 frames"):
        got.extend(process_video(edit_model, blank, 0.0, paste_back=True, state=state))
    assert len(got) == 3 and torch.equal(torch.stack([o.frame for o in got]), blank)
    assert max(o.mask.max() for o in got) == 0 and state.tracks == []
    # a later chunk of a video (the state has seen frames) passes faceless frames through without an error
    more = list(process_video(edit_model, blank, 0.0, paste_back=True, state=state))
    assert len(more) == 3 and state.frames_seen == 6


def test_tracked_paste_of_one_face_with_the_rectangle_is_the_release_path(edit_model):
    """faces 'largest' with the crop rectangle reproduces the plain (release) video path exactly."""
    frames = _clip(SHIFTS[:3], faces=1)
    plain = torch.stack([o.frame for o in process_video(edit_model, frames, 0.7, chunk_size=2, paste_back=True,
                                                        feather=0.1)])
    tracked = torch.stack([o.frame for o in process_video(edit_model, frames, 0.7, chunk_size=2, paste_back=True,
                                                          faces="largest", paste=PasteOptions("crop", 0.1))])
    assert torch.allclose(plain, tracked, atol=1e-5)


def test_motion_fit_and_refinement_on_a_moved_face():
    photo = group_photo(1)
    face = DlibDetector().detect(photo)[0]
    points, values = face_samples(photo, face.landmarks)
    assert len(points) > 500
    moved = torch.roll(photo, shifts=(2, -3), dims=(1, 2))
    start = np.array([[1.0, 0.0, -2.0], [0.0, 1.0, 1.0]])  # 1 px off in both directions
    refined, match = refine_motion(moved, points, values, start)
    assert match > 0.99 and np.allclose(refined, [[1, 0, -3], [0, 1, 2]], atol=0.05)
    src = face.landmarks
    angle = 0.1
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * 1.2
    dst = src @ rot.T + [5, -7]
    dst[0] += 30  # one outlier
    fit = fit_similarity(src, dst)
    assert np.allclose(fit[:, :2], rot, atol=1e-6) and np.allclose(fit[:, 2], [5, -7], atol=1e-6)


def test_tracker_checks():
    with pytest.raises(InputError):
        FaceTracker(smoothing=1.0, prepare=False)
    with pytest.raises(InputError):
        FaceTracker(max_missing=-1, prepare=False)

    class Two:
        def detect(self, image):
            return [Face.from_landmarks(synthetic_landmarks(x, 100, 40)) for x in (100, 300)]

    tracker = FaceTracker(FaceSelection("all"), Two(), prepare=False)
    tracker(torch.rand(3, 240, 400))
    with pytest.raises(InputError, match="started with"):
        tracker(torch.rand(3, 200, 400))
    copy = tracker.state.copy()
    copy.tracks[0].shape += 5
    assert not np.allclose(copy.tracks[0].shape, tracker.state.tracks[0].shape)


def test_tracked_video_needs_paste_back(edit_model):
    frames = torch.rand(2, 3, 64, 64)
    with pytest.raises(InputError, match="paste_back"):
        process_video(edit_model, frames, 0.0, faces="all")
    with pytest.raises(InputError, match="crop 'first' or 'track'"):
        process_video(edit_model, frames, 0.0, crop={"frame_size": [64, 64], "scale": 1.0, "resized_size": [64, 64],
                                                     "box": [0, 0, 64, 64]}, paste_back=True, faces="all")
    untracked = next(process_video(edit_model, frames, 0.0, crop="none", aligned=frames[0]))
    assert torch.equal(untracked.mask, torch.ones(1, *untracked.frame.shape[-2:]))  # the whole output is the model's
