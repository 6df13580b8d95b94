"""Several faces per photo: choosing them (index map, rules, reasons), the preview, one crop size for
the batch, the crop info that pastes them all into one frame, and seamless paste-back (face masks,
colour matching), measured on the packaged photos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.filters import laplacian

from styleganex.base.errors import FaceError, InputError, NoFaceError
from styleganex.dev.testing import group_photo, packaged_photos, synthetic_landmarks
from styleganex.faces import (
    CropInfo,
    CropRecord,
    Face,
    FaceSelection,
    PasteOptions,
    crop_record,
    draw_index_map,
    paste_face,
    prepare_face,
    scan_faces,
)
from styleganex.faces.group import grow_record, prepare_group, previews, scan_images, scan_problems
from styleganex.faces.paste import ColourTransform, face_polygon, label_mask
from styleganex.faces.preview import CHOSEN, REJECTED
from styleganex.faces.select import MAX_YAW, face_pose
from styleganex.pipelines.latent_files import crop_info_from_dict, crop_info_to_dict

pytest.importorskip("dlib")


def _face(x, y, d=40.0, score=1.0, yaw_squeeze=None):
    points = synthetic_landmarks(x, y, d)
    if yaw_squeeze is not None:  # the outline on the image's right moved towards the nose: turned sideways
        points[16, 0] = points[30, 0] + yaw_squeeze * (points[16, 0] - points[30, 0])
    return Face.from_landmarks(points, score)


# ---- choosing faces ------------------------------------------------------------------------------
def test_index_map_numbers_left_to_right_whatever_the_rule():
    faces = [_face(500, 200, 60), _face(100, 220, 30), _face(300, 180, 45)]
    for order in ("largest", "score", "center", "left to right"):
        scan = scan_faces(faces, (480, 640), FaceSelection("all", order))
        assert [c.face.box[0] < d.face.box[0] for c, d in zip(scan.candidates, scan.candidates[1:])] == [True, True]
        assert [c.number for c in scan.chosen] == [0, 1, 2]
    # one face by a rule: positions in the rule's ranking, reported as index-map numbers
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("one", "largest")).chosen] == [2]
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("one", "largest", 1)).chosen] == [1]
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("one", "left to right", 2)).chosen] == [2]
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("one", "center")).chosen] == [1]
    # all, capped by the rule
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("all", "largest", max_faces=2)).chosen] \
        == [1, 2]
    # indices, in the order given
    assert [c.number for c in scan_faces(faces, (480, 640), FaceSelection("indices", indices=(2, 0))).chosen] == [2, 0]


def test_reasons_for_faces_that_cannot_be_used():
    faces = [_face(100, 200, 40), _face(250, 200, 8), _face(400, 200, 40, score=0.1),
             _face(550, 200, 40, yaw_squeeze=0.05)]
    sideways = _face(550, 200, 40, yaw_squeeze=0.05)
    assert face_pose(sideways)[1] > MAX_YAW > face_pose(faces[0])[1]
    scan = scan_faces(faces, (480, 700), FaceSelection("all", min_score=0.5))
    problems = [c.problem for c in scan.candidates]
    assert problems[0] is None
    assert problems[1].startswith("too small: eyes 8 px apart")
    assert problems[2].startswith("weak detection: score 0.10")
    assert problems[3].startswith("turned away")
    assert [c.number for c in scan.chosen] == [0] and scan.problem is None
    assert scan_faces(faces, (480, 700), FaceSelection("all", min_size=200)).problem.startswith("no usable face")
    # a face on its side, and one upside down
    angle = math.radians(70)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    tilted = Face.from_landmarks((synthetic_landmarks(200, 200, 40) - 200) @ turn.T + 200)
    upside = Face.from_landmarks(-synthetic_landmarks(200, 200, 40) + [400, 400])
    assert "tilted" in scan_faces([tilted], (480, 700)).candidates[0].problem
    assert "upside down" in scan_faces([upside], (480, 700)).candidates[0].problem
    assert scan_faces([Face((10, 10, 60, 60))], (100, 100)).candidates[0].problem == "no landmarks"
    # an explicit choice of an unusable face or a number past the end says so
    assert "#1 is too small" in scan_faces(faces, (480, 700), FaceSelection("indices", indices=(1,))).problem
    assert "index map has 4" in scan_faces(faces, (480, 700), FaceSelection("indices", indices=(7,))).problem
    assert "only 2 usable" in scan_faces(faces, (480, 700), FaceSelection("one", index=2)).problem
    assert scan_faces([], (480, 700)).problem == "no face found"


def test_selection_from_text_and_its_checks():
    assert FaceSelection.parse("all", max_faces=2) == FaceSelection("all", max_faces=2)
    assert FaceSelection.parse(" 0, 2,2 ").indices == (0, 2)
    assert FaceSelection.parse("left-to-right:1") == FaceSelection("one", "left to right", 1)
    assert FaceSelection.parse("") == FaceSelection()
    for bad in ("biggest", "0,x", "largest:x"):
        with pytest.raises(InputError):
            FaceSelection.parse(bad)
    with pytest.raises(InputError):
        FaceSelection("indices")
    with pytest.raises(InputError):
        FaceSelection("all", min_size=-1)
    with pytest.raises(InputError):
        FaceSelection("one", index=-1)


def test_preview_marks_chosen_and_rejected_faces_with_colours_and_text():
    faces = [_face(120, 200, 40), _face(300, 200, 8)]
    image = torch.full((3, 400, 480), 0.5)
    scan = scan_faces(faces, (400, 480), FaceSelection("all"))
    picture = draw_index_map(image, scan, "a note")
    pixels = (picture * 255).round().permute(1, 2, 0).reshape(-1, 3)
    for colour in (CHOSEN, REJECTED):
        assert (pixels == torch.tensor(colour, dtype=pixels.dtype)).all(dim=1).sum() > 20
    # the boxes sit where the faces are: the left edge of face 0's box is drawn
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    column = picture[:, y0 + 5:y1 - 5, x0]
    assert torch.allclose(column[:, 0], torch.tensor(CHOSEN) / 255.0, atol=1e-6)
    assert (picture[:, :12] != 0.5).any()  # the banner
    empty = draw_index_map(image, scan_faces([], (400, 480)), "")  # nothing drawn (8-bit rounding only)
    assert (empty - image).abs().max() <= 0.5 / 255 + 1e-6


# ---- the packaged group photo ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo():
    return group_photo(3)


@pytest.fixture(scope="module")
def scans(photo):
    return scan_images(photo[None], FaceSelection("all"))


@pytest.fixture(scope="module")
def group(photo, scans):
    return prepare_group(photo[None], scans)


def test_group_photo_has_three_usable_faces_numbered_left_to_right(scans):
    scan = scans[0]
    assert scan.problem is None and [c.number for c in scan.chosen] == [0, 1, 2]
    centres = [float(c.face.center[0]) for c in scan.candidates]
    assert centres == sorted(centres)
    assert [int(c // 256) for c in centres] == [0, 1, 2]  # one face per tile


def test_every_face_gets_a_crop_of_one_size_that_maps_back(photo, group):
    info = group.crop
    assert group.crops.shape[0] == 3 and info.frame_index == (0, 0, 0) and info.n_frames == 1
    assert info.canvas is not None and tuple(group.crops.shape[-2:]) == info.canvas
    for k, record in enumerate(info.records):
        h, w = record.crop_size
        # the crop is the record's crop of the photo, padded (edge repeated) to the canvas
        from styleganex.faces import apply_crop
        assert torch.allclose(group.crops[k, :, :h, :w], apply_crop(photo, record), atol=1e-6)
        if h < info.canvas[0]:
            assert torch.equal(group.crops[k, :, h:, :w], group.crops[k, :, h - 1:h, :w].expand(-1, info.canvas[0] - h,
                                                                                              -1))
        # the landmarks kept for the mask are the face's, in this crop
        chosen = group.scans[0].chosen[k].face
        expected = record.frame_to_crop(chosen.landmarks)
        assert np.abs(info.landmarks(k) - expected).mean() < 4.0  # detected again on the crop (dlib: integer px)
    assert torch.allclose(info.recut(), group.crops, atol=1e-6)


def test_grow_record_keeps_the_face_in_place_and_pads_what_the_frame_lacks():
    record = CropRecord((300, 400), 2.0, (600, 800), (40, 96, 552, 600))  # clipped at the bottom (600)
    grown, missing = grow_record(record, (512, 512))
    assert grown.box == (40, 88, 552, 600) and missing == (0, 0)  # moved up by 8 rows, not padded
    small = CropRecord((100, 150), 2.0, (200, 300), (8, 8, 200, 200))
    grown, missing = grow_record(small, (512, 512))
    assert grown.box == (0, 0, 300, 200) and missing == (312, 212)
    with pytest.raises(InputError):
        grow_record(record, (100, 100))


def test_crop_info_of_several_faces_round_trips_through_json(group):
    info = group.crop
    data = crop_info_to_dict(info)
    assert data["version"] == 3 and data["frame_index"] == [0, 0, 0] and data["canvas"] == list(info.canvas)
    back = crop_info_from_dict(data)
    assert back == info and back.frame_index == info.frame_index and back.canvas == info.canvas
    for k in range(3):
        assert np.allclose(back.landmarks(k), info.landmarks(k), atol=1e-3)
    # one face per frame still writes the version-2 layout, which older releases read
    single = CropInfo(info.records[:1], faces=info.faces[:1])
    assert crop_info_to_dict(single)["version"] == 2 and "frame_index" not in crop_info_to_dict(single)
    # checked fields
    for field, value in (("frame_index", [0, 0, 5]), ("n_frames", 0), ("canvas", [8, 8]), ("landmarks_of", [0, 9, 0]),
                         ("landmarks", [[[0, 0]] * 67])):
        with pytest.raises(InputError):
            crop_info_from_dict({**data, field: value})
    # select and cat keep each crop with its own frame
    two = CropInfo.cat([info.with_frames(group.crop.frames), info.with_frames(group.crop.frames)])
    assert two.frame_index == (0, 0, 0, 1, 1, 1) and two.n_frames == 2 and two.frames.shape[0] == 2
    assert two.select(4).frame_index == (0,) and two.select(4).records == (info.records[1],)


def test_photos_without_a_usable_face_error_centre_or_skip():
    photo = group_photo(1)
    blank = torch.full_like(photo, 0.5)
    images = torch.stack([photo, blank])
    scans = scan_images(images, FaceSelection("all"))
    assert scan_problems(scans) == "image 1: no face found"
    with pytest.raises(NoFaceError, match="image 1: no face found"):
        prepare_group(images, scans)
    skipped = prepare_group(images, scans, if_no_face="skip")
    assert skipped.crop.frame_index == (0,) and skipped.crop.n_frames == 2 and "left out" in skipped.notes[1]
    centred = prepare_group(images, scans, if_no_face="center")
    assert centred.crop.frame_index == (0, 1) and centred.crop.faces[1] is None
    pics = previews(images, scans, skipped.notes)
    assert pics.shape == images.shape and (pics[1, :, :10] != 0.5).any()
    # a face too small to use is a FaceError with the reason, not a NoFaceError
    tiny = F.interpolate(photo[None], scale_factor=0.3, mode="bilinear", antialias=True)
    tiny_scans = [scan_faces([_face(30, 30, 10)], tuple(tiny.shape[-2:]))]
    with pytest.raises(FaceError, match="too small") as caught:
        prepare_group(tiny, tiny_scans)
    assert not isinstance(caught.value, NoFaceError)


def test_first_image_gives_the_faces_of_every_frame(photo):
    frames = torch.stack([photo, photo.flip(0)])  # same geometry, other colours
    scans = scan_images(frames, FaceSelection("all"), first_for_all=True)
    assert len(scans) == 1
    group = prepare_group(frames, scans, first_for_all=True)
    assert group.crop.frame_index == (0, 0, 0, 1, 1, 1) and group.crop.mode == "first image for all"
    assert group.crop.records[:3] == group.crop.records[3:]
    assert torch.equal(group.aligned[:3], group.aligned[3:])


# ---- seamless paste-back ---------------------------------------------------------------------------
def _shrink(binary, r):
    return -F.max_pool2d(-binary, 2 * r + 1, 1, r)


def seam_metrics(pasted, original, mask, width=1):
    """Three figures of the seam along the mask's border (its 0.5 contour, ``width`` px either side,
    plus the fade):

    laplacian: mean |Laplacian| (3x3, RGB averaged) of the pasted frame in that band over the same in
        the original (no step: <= 1; below 1 where the decode blurs);
    step: mean |pasted - original| there (x 255);
    edge: mean |Laplacian of (pasted - original)| in the band over the same 4 to 8 px further inside
        (a step at the border: well above 1; none: about 1 or less).
    """
    inside = (mask[0] >= 0.5).float()[None, None]
    grown = F.max_pool2d(inside, 2 * width + 1, 1, width)
    band = ((grown - _shrink(inside, width))[0, 0] > 0) | ((mask[0] > 0) & (mask[0] < 1))
    ring = (_shrink(inside, width + 4) - _shrink(inside, width + 8))[0, 0] > 0
    lap_p = laplacian(pasted[None], 3).abs()[0].mean(0)
    lap_o = laplacian(original[None], 3).abs()[0].mean(0)
    lap_d = laplacian((pasted - original)[None], 3).abs()[0].mean(0)
    return (float(lap_p[band].mean() / lap_o[band].mean()), float((pasted - original).abs()[:, band].mean() * 255),
            float(lap_d[band].mean() / lap_d[ring].mean()))


@pytest.fixture(scope="module")
def astronaut_face():
    frame = packaged_photos()["astronaut"]
    return frame, prepare_face(frame)


def _identity_decode(crop):
    return F.interpolate(crop[None], scale_factor=4, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def test_identity_decode_pastes_back_seamlessly(astronaut_face):
    """The astronaut, decoded as the identity (the crop fed back, 4x): outside the mask the frame is the
    original bit for bit, and across the mask's border the texture has no step: mean |Laplacian| in the
    border band is at most that of the original (it is lower: the round trip through the crop blurs), and
    the difference to the original has no more edge at the border than just inside it."""
    frame, prepared = astronaut_face
    output = _identity_decode(prepared.crop)
    for options in (PasteOptions("face", 0.05, 0.0, True), PasteOptions("head", 0.05, 0.02, True),
                    PasteOptions("crop", 0.1, 0.0, True)):
        pasted = paste_face(frame, output, prepared.record, options, landmarks=prepared.landmarks)
        outside = pasted.mask[0] == 0
        assert outside.float().mean() > 0.3
        assert (pasted.frame - frame).abs()[:, outside].max() <= 1 / 255  # in fact 0: untouched
        ratio, step, edge = seam_metrics(pasted.frame, frame, pasted.mask)
        assert 0.5 < ratio <= 1.0, (options, ratio)
        assert step < 3.0, (options, step)  # x 255: the blur of resampling, no colour change
        assert edge < 1.0, (options, edge)
        # an identity decode needs (nearly) no colour change
        assert np.allclose(pasted.colour.gain, 1.0, atol=0.15) and np.allclose(pasted.colour.offset, 0.0, atol=4.0)


def test_colour_matching_removes_the_colour_step_of_a_tinted_decode(astronaut_face):
    frame, prepared = astronaut_face
    tint = torch.tensor([0.8, 0.9, 1.1])[:, None, None]
    output = (_identity_decode(prepared.crop) * tint + 0.05).clamp(0, 1)
    plain = paste_face(frame, output, prepared.record, PasteOptions("face", 0.05), landmarks=prepared.landmarks)
    matched = paste_face(frame, output, prepared.record, PasteOptions("face", 0.05, 0.0, True),
                         landmarks=prepared.landmarks)
    step_plain, step_matched = seam_metrics(plain.frame, frame, plain.mask)[1], seam_metrics(matched.frame, frame,
                                                                                          matched.mask)[1]
    assert step_plain > 6.0 and step_matched < 0.4 * step_plain
    # a hard edge with the tint is a step the metrics see; the feathered, matched paste is not
    hard = paste_face(frame, output, prepared.record, PasteOptions("face", 0.0), landmarks=prepared.landmarks)
    assert seam_metrics(hard.frame, frame, hard.mask)[2] > 1.3
    assert seam_metrics(matched.frame, frame, matched.mask)[0] <= 1.0
    assert seam_metrics(matched.frame, frame, matched.mask)[2] < 1.0


def test_mask_shapes_follow_the_face(astronaut_face):
    frame, prepared = astronaut_face
    output = _identity_decode(prepared.crop)
    areas = {}
    for shape in ("face", "head", "crop"):
        areas[shape] = float(paste_face(frame, output, prepared.record, PasteOptions(shape, 0.05),
                                        landmarks=prepared.landmarks).mask.sum())
    eroded = float(paste_face(frame, output, prepared.record, PasteOptions("face", 0.05, 0.05),
                              landmarks=prepared.landmarks).mask.sum())
    assert eroded < areas["face"] < areas["head"] < areas["crop"]
    # the face mask covers the landmarks' centre fully and stops outside the hull
    mask = paste_face(frame, output, prepared.record, PasteOptions("face", 0.05), landmarks=prepared.landmarks).mask[0]
    face = prepared.face
    nose = face.landmarks[30].round().astype(int)
    assert mask[nose[1], nose[0]] == 1.0
    x0, y0, x1, y1 = face.box
    assert mask[int(y1) + 40:, :].max() == 0 and mask[:, int(x1) + 40:].max() == 0
    # without landmarks: an ellipse in the middle of the crop
    ellipse = paste_face(frame, output, prepared.record, PasteOptions("face", 0.05)).mask[0]
    assert 0 < float(ellipse.sum()) < areas["crop"] and ellipse[nose[1], nose[0]] > 0.9


def test_parser_labels_make_the_mask(astronaut_face):
    frame, prepared = astronaut_face
    output = _identity_decode(prepared.crop)
    h, w = prepared.crop.shape[-2:]
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[h // 4:3 * h // 4, w // 4:w // 2] = 1  # "skin" on the left half of the middle
    labels[: h // 8] = 17  # "hair" at the top
    face = paste_face(frame, output, prepared.record, PasteOptions("face", 0.02), labels=labels).mask[0]
    head = paste_face(frame, output, prepared.record, PasteOptions("head", 0.02), labels=labels).mask[0]
    inside = prepared.record.crop_to_frame([[w * 0.375, h * 0.5]])[0].round().astype(int)
    right = prepared.record.crop_to_frame([[w * 0.7, h * 0.5]])[0].round().astype(int)
    top = prepared.record.crop_to_frame([[w * 0.5, h * 0.03]])[0].round().astype(int)
    assert face[inside[1], inside[0]] == 1.0 and face[right[1], right[0]] == 0.0
    assert face[top[1], top[0]] == 0.0 and head[top[1], top[0]] > 0.5
    # two maps are united (e.g. the original's and the result's faces)
    both = torch.stack([labels, labels.flip(-1)])
    assert float(label_mask(both).sum()) > float(label_mask(labels).sum())
    assert float(paste_face(frame, output, prepared.record, PasteOptions("face", 0.02), labels=both).mask.sum()) \
        > float(face.sum())


def test_face_polygon_and_colour_transform_basics():
    points = synthetic_landmarks(100, 100, 40)
    polygon = face_polygon(points)
    assert polygon[:, 1].min() < points[17:27, 1].min() - 10  # the forehead is added
    assert np.ptp(face_polygon(points, "head")[:, 0]) > 1.3 * np.ptp(polygon[:, 0])
    image = torch.rand(3, 16, 16)
    assert torch.allclose(ColourTransform().apply(image), image, atol=1e-4)
    blended = ColourTransform((2.0, 1.0, 1.0), (10.0, 0.0, 0.0)).blend(ColourTransform(), 0.25)
    assert blended.gain == (1.25, 1.0, 1.0) and blended.offset == (2.5, 0.0, 0.0)
    with pytest.raises(InputError):
        PasteOptions("oval")
    with pytest.raises(InputError):
        PasteOptions("face", feather=0.7)


def test_composite_pastes_every_face_into_its_frame(photo, group):
    info = group.crop
    outputs = torch.stack([_identity_decode(c) for c in group.crops])
    outputs[1] = outputs[1] * 0.0 + torch.tensor([1.0, 0.0, 0.0])[:, None, None]  # face 1 turns red
    result = info.composite(outputs, PasteOptions("face", 0.05))
    assert result.frames.shape == (1, 3, 352, 768) and result.masks.shape == (1, 1, 352, 768)
    frame, mask = result.frames[0], result.masks[0, 0]
    assert torch.equal(frame[:, mask == 0], photo[:, mask == 0])
    red = (frame[0] > 0.9) & (frame[1] < 0.1) & (frame[2] < 0.1)
    assert 256 <= int(torch.nonzero(red)[:, 1].float().mean()) < 512  # the middle person's face only
    # the rectangle of the old paste() overlaps the neighbours; the face masks do not
    columns = mask.amax(dim=0) > 0
    assert int((columns[1:] & ~columns[:-1]).sum()) + int(columns[0]) == 3
    assert math.isclose(float(info.paste(outputs).shape[0]), 1.0)


def test_paste_back_keeps_its_old_behaviour():
    record = crop_record((300, 400), _face(200, 150, 64))
    frame = torch.zeros(3, 300, 400)
    output = torch.ones(3, *record.crop_size)
    from styleganex.faces import paste_back
    old = paste_back(frame, output, record, 0.1)
    new = paste_face(frame, output, record, PasteOptions("crop", 0.1))
    assert torch.equal(old, new.frame) and new.colour is None
    assert torch.equal(new.mask[0] > 0, old[0] > 0)
