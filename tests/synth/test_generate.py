"""Tests of the built-in synthetic COCO keypoint dataset generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from semipose.skeletons import COCO17
from semipose.synth import (
    IMAGE_ID_OFFSET,
    SPLITS,
    SynthSummary,
    coco_category,
    file_name_for,
    generate_synthetic,
    render_synthetic_image,
)

SIZE = (160, 120)
SMALL = {"num_train": 8, "num_val": 6, "num_unlabeled": 6, "image_size": SIZE, "progress": False}
JSON_FILES = (
    "person_keypoints_train.json",
    "person_keypoints_val.json",
    "person_keypoints_unlabeled.json",
    "image_info_unlabeled.json",
    "detections_val.json",
    "detections_unlabeled.json",
)


def _load(root: Path, name: str) -> Any:
    return json.loads((root / "annotations" / name).read_text())


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    root = tmp_path_factory.mktemp("synth") / "ds"
    summary = generate_synthetic(root, seed=3, workers=0, **SMALL)
    return root, summary


def test_layout_and_coco_loading(dataset: tuple[Path, SynthSummary]) -> None:
    from pycocotools.coco import COCO

    root, summary = dataset
    for name in JSON_FILES:
        assert (root / "annotations" / name).is_file(), name
    meta = json.loads((root / "synth.json").read_text())
    assert meta["settings"]["seed"] == 3 and meta["settings"]["image_size"] == list(SIZE)

    all_image_ids: list[int] = []
    for split, n in (("train", 8), ("val", 6), ("unlabeled", 6)):
        path = root / "annotations" / f"person_keypoints_{split}.json"
        raw = json.loads(path.read_text())
        assert set(raw) >= {"info", "licenses", "categories", "images", "annotations"}
        assert raw["categories"] == [coco_category()]
        cat = raw["categories"][0]
        assert cat["keypoints"] == list(COCO17.keypoints)
        assert all(1 <= a <= 17 and 1 <= b <= 17 for a, b in cat["skeleton"])
        coco = COCO(str(path))
        assert len(coco.getImgIds()) == n
        assert summary.counts[split] == {"images": n, "persons": len(raw["annotations"])}
        assert meta["splits"][split]["images"] == n
        ids = [im["id"] for im in raw["images"]]
        assert ids == [IMAGE_ID_OFFSET[split] + i + 1 for i in range(n)]
        all_image_ids += ids
        for im in raw["images"]:
            assert im["file_name"] == file_name_for(im["id"]) and len(im["file_name"]) == 16
            assert (im["width"], im["height"]) == SIZE
            img = cv2.imread(str(root / "images" / split / im["file_name"]), cv2.IMREAD_COLOR)
            assert img is not None and img.shape == (SIZE[1], SIZE[0], 3)
        assert len(list((root / "images" / split).glob("*.jpg"))) == n
    assert len(set(all_image_ids)) == len(all_image_ids)

    info = _load(root, "image_info_unlabeled.json")
    assert "annotations" not in info
    assert set(info) == {"info", "licenses", "categories", "images"}
    assert info["images"] == _load(root, "person_keypoints_unlabeled.json")["images"]
    # pycocotools can load the image-info file too (no annotations)
    COCO(str(root / "annotations" / "image_info_unlabeled.json"))


def test_annotation_invariants(dataset: tuple[Path, SynthSummary]) -> None:
    root, _ = dataset
    W, H = SIZE
    ann_ids: list[int] = []
    n_persons = 0
    for split in SPLITS:
        coco = _load(root, f"person_keypoints_{split}.json")
        img_ids = {im["id"] for im in coco["images"]}
        for a in coco["annotations"]:
            n_persons += 1
            ann_ids.append(a["id"])
            assert a["image_id"] in img_ids and a["category_id"] == 1 and a["iscrowd"] == 0
            k = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
            assert len(a["keypoints"]) == 51
            v = k[:, 2]
            assert set(np.unique(v)) <= {0.0, 1.0, 2.0}
            assert np.all(k[v == 0, :2] == 0)
            inside = (k[:, 0] >= 0) & (k[:, 0] <= W - 1) & (k[:, 1] >= 0) & (k[:, 1] <= H - 1)
            assert np.all(inside[v > 0])
            assert a["num_keypoints"] == int((v > 0).sum()) >= 1
            x, y, w, h = a["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W and y + h <= H
            assert 0 < a["area"] <= w * h
            seg = a["segmentation"][0]
            assert len(seg) == 8
            assert a["attributes"]["facing"] in ("front", "back", "profile_left", "profile_right")
    assert n_persons > 0
    assert len(set(ann_ids)) == len(ann_ids)


def test_same_seed_is_byte_identical_and_workers_do_not_matter(tmp_path: Path,
                                                               dataset: tuple[Path, SynthSummary]) -> None:
    root, _ = dataset
    again = generate_synthetic(tmp_path / "a", seed=3, workers=0, **SMALL)
    assert _all_bytes(root) == _all_bytes(again.out_dir)
    par = generate_synthetic(tmp_path / "b", seed=3, workers=2, **SMALL)
    assert _all_bytes(root) == _all_bytes(par.out_dir)
    # and the pixels decode identically
    f = sorted((root / "images" / "val").glob("*.jpg"))[0]
    a = cv2.imread(str(f))
    b = cv2.imread(str(par.out_dir / "images" / "val" / f.name))
    assert np.array_equal(a, b)


def test_different_seed_differs(tmp_path: Path, dataset: tuple[Path, SynthSummary]) -> None:
    root, _ = dataset
    other = generate_synthetic(tmp_path / "c", seed=4, workers=0, **SMALL)
    for name in ("person_keypoints_train.json", "detections_val.json"):
        assert (root / "annotations" / name).read_bytes() != (other.out_dir / "annotations" / name).read_bytes()
    f = "images/train/000000000001.jpg"
    assert not np.array_equal(cv2.imread(str(root / f)), cv2.imread(str(other.out_dir / f)))


def test_render_matches_written_file(dataset: tuple[Path, SynthSummary]) -> None:
    root, _ = dataset
    img, anns, dets = render_synthetic_image(3, "val", 2, image_size=SIZE)
    on_disk = cv2.imread(str(root / "images" / "val" / file_name_for(IMAGE_ID_OFFSET["val"] + 3)))
    assert np.array_equal(img, on_disk)
    gt = [a for a in _load(root, "person_keypoints_val.json")["annotations"]
          if a["image_id"] == IMAGE_ID_OFFSET["val"] + 3]
    assert gt == anns


def test_detection_files(dataset: tuple[Path, SynthSummary]) -> None:
    root, _ = dataset
    W, H = SIZE
    for split in ("val", "unlabeled"):
        dets = _load(root, f"detections_{split}.json")
        img_ids = {im["id"] for im in _load(root, f"person_keypoints_{split}.json")["images"]}
        assert isinstance(dets, list) and dets
        for d in dets:
            assert set(d) >= {"image_id", "category_id", "bbox", "score"}
            assert d["image_id"] in img_ids and d["category_id"] == 1
            x, y, w, h = d["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6
            assert 0 < d["score"] <= 1


def test_detection_statistics() -> None:
    scores: list[float] = []
    n_gt = 0
    for i in range(40):
        _, anns, dets = render_synthetic_image(11, "unlabeled", i, image_size=SIZE, jpeg_quality=None)
        n_gt += len(anns)
        scores += [d["score"] for d in dets]
    s = np.asarray(scores)
    assert (s < 0.5).sum() >= 5  # false positives / hard people
    assert (s >= 0.5).sum() >= 0.7 * n_gt  # most people are found with a decent score


def _persons(n_images: int, seed: int = 5, difficulty: float = 1.0) -> list[dict[str, Any]]:
    out = []
    for i in range(n_images):
        _, anns, _ = render_synthetic_image(seed, "train", i, image_size=(192, 144), difficulty=difficulty,
                                            jpeg_quality=None)
        out += anns
    return out


@pytest.fixture(scope="module")
def persons() -> list[dict[str, Any]]:
    return _persons(60)


def test_left_right_semantics(persons: list[dict[str, Any]]) -> None:
    votes: dict[str, list[bool]] = {"front": [], "back": []}
    for a in persons:
        facing = a["attributes"]["facing"]
        k = np.asarray(a["keypoints"]).reshape(17, 3)
        if facing in votes and k[5, 2] > 0 and k[6, 2] > 0:
            votes[facing].append(bool(k[5, 0] > k[6, 0]))  # left shoulder at larger image x?
    assert len(votes["front"]) >= 10 and len(votes["back"]) >= 5
    assert np.mean(votes["front"]) >= 0.85
    assert np.mean(votes["back"]) <= 0.15


def test_face_cues_follow_facing(persons: list[dict[str, Any]]) -> None:
    # Heads may turn a little relative to the body, so these are majority statements.
    hidden_face: dict[str, list[bool]] = {"back": [], "profile_left": [], "profile_right": []}
    nose_dir: dict[str, list[bool]] = {"profile_left": [], "profile_right": []}
    front_eyes: list[bool] = []
    for a in persons:
        facing = a["attributes"]["facing"]
        k = np.asarray(a["keypoints"]).reshape(17, 3)
        v = k[:, 2]
        clear = a["attributes"]["occluded_frac"] < 0.1 and a["attributes"]["height_px"] >= 40 and np.all(v[:5] > 0)
        if facing == "front" and clear:
            front_eyes.append(bool(v[1] == 2 and v[2] == 2))
        if facing == "back":  # no visible eyes or nose from behind
            hidden_face[facing].append(bool(v[0] != 2 and v[1] != 2 and v[2] != 2))
        if facing == "profile_left":  # the right eye and ear face away; the nose points to the image left
            hidden_face[facing].append(bool(v[2] != 2 and v[4] != 2))
            if v[0] > 0 and v[3] > 0:
                nose_dir[facing].append(bool(k[0, 0] < k[3, 0]))
        if facing == "profile_right":
            hidden_face[facing].append(bool(v[1] != 2 and v[3] != 2))
            if v[0] > 0 and v[4] > 0:
                nose_dir[facing].append(bool(k[0, 0] > k[4, 0]))
    assert len(front_eyes) >= 10 and np.mean(front_eyes) >= 0.85
    for f, votes in hidden_face.items():
        assert len(votes) >= 5 and np.mean(votes) >= 0.85, f
    for f, votes in nose_dir.items():
        assert len(votes) >= 3 and np.mean(votes) >= 0.8, f


def test_visibility_flags_are_all_used() -> None:
    flags = np.concatenate([np.asarray(a["keypoints"]).reshape(17, 3)[:, 2] for a in _persons(40, seed=9,
                                                                                                difficulty=2.0)])
    counts = {int(f): int((flags == f).sum()) for f in (0, 1, 2)}
    assert counts[2] > counts[1] > 0 and counts[0] > 0  # truncation gives v=0


def test_existing_dataset_needs_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    generate_synthetic(root, num_train=3, num_val=1, num_unlabeled=1, image_size=(96, 96), workers=0, progress=False)
    with pytest.raises(FileExistsError, match="synth.json"):
        generate_synthetic(root, num_train=3, num_val=1, num_unlabeled=1, image_size=(96, 96), workers=0,
                           progress=False)
    s = generate_synthetic(root, num_train=2, num_val=1, num_unlabeled=0, image_size=(96, 96), workers=0,
                           progress=False, overwrite=True)
    assert s.counts["train"]["images"] == 2
    assert len(list((root / "images" / "train").glob("*.jpg"))) == 2  # stale images removed
    assert not list((root / "images" / "unlabeled").glob("*.jpg"))
    assert _load(root, "image_info_unlabeled.json")["images"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_train": -1},
        {"num_val": 1.5},
        {"num_unlabeled": 1_000_000},
        {"image_size": (63, 100)},
        {"image_size": (100,)},
        {"seed": -1},
        {"difficulty": -0.1},
        {"difficulty": 5.0},
        {"jpeg_quality": (90, 80)},
        {"jpeg_quality": (0, 80)},
        {"workers": -2},
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"num_train": 1, "num_val": 0, "num_unlabeled": 0, "workers": 0, "progress": False}
    base.update(kwargs)
    with pytest.raises(ValueError):
        generate_synthetic(tmp_path / "x", **base)
    assert not (tmp_path / "x" / "synth.json").exists()


def test_difficulty_zero_is_clean_and_valid(tmp_path: Path) -> None:
    s = generate_synthetic(tmp_path / "d0", num_train=4, num_val=0, num_unlabeled=0, image_size=SIZE, difficulty=0.0,
                           workers=0, progress=False)
    assert s.counts["train"]["images"] == 4 and s.counts["train"]["persons"] >= 4
