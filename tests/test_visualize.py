"""Tests for semipose.visualize on the real COCO sample images."""

from __future__ import annotations

import json
from collections import defaultdict

import cv2
import numpy as np
import pytest

from semipose.errors import ImageReadError
from semipose.image import IMAGENET_MEAN, IMAGENET_STD
from semipose.skeletons import AIC14, COCO17
from semipose.visualize import (
    draw_heatmaps,
    draw_pose,
    keypoint_sides,
    make_image_grid,
    plot_training_curves,
    save_prediction_grid,
    to_uint8_image,
)


@pytest.fixture(scope="module")
def coco_sample(sample_data):
    """Per image of the COCO sample: (image path, (P, 17, 3) GT keypoints, (P, 4) boxes)."""
    root = sample_data
    ann_file = root / "coco" / "person_keypoints_sample.json"
    data = json.loads(ann_file.read_text())
    by_image = defaultdict(list)
    for a in data["annotations"]:
        by_image[a["image_id"]].append(a)
    out = []
    for im in data["images"]:
        anns = by_image[im["id"]]
        kp = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), 17, 3)
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        out.append((root / "coco" / "images" / im["file_name"], kp, boxes))
    return out


def _single_person(coco_sample):
    """The sample image holding exactly one annotated person."""
    for path, kp, boxes in coco_sample:
        if kp.shape[0] == 1:
            return path, kp, boxes
    pytest.fail("no single-person image in the sample")


def _patch(img, x, y, r):
    x, y = int(round(x)), int(round(y))
    return img[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]


# ------------------------------------------------------------------------------ draw_pose


def test_draw_pose_marks_joints_and_leaves_far_corner(coco_sample):
    path, kp, _ = _single_person(coco_sample)
    img = cv2.imread(str(path))
    out = draw_pose(img, kp, COCO17)
    assert out.shape == img.shape and out.dtype == np.uint8

    vis = np.flatnonzero(kp[0, :, 2] == 2)
    assert vis.size > 0
    for j in vis:
        x, y = kp[0, j, :2]
        assert not np.array_equal(_patch(out, x, y, 1), _patch(img, x, y, 1)), f"joint {j} not drawn"

    h, w = img.shape[:2]
    pts = kp[0, kp[0, :, 2] > 0, :2]
    corners = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
    far = max(corners, key=lambda c: np.min(np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1])))
    assert np.min(np.hypot(pts[:, 0] - far[0], pts[:, 1] - far[1])) > 100
    assert np.array_equal(_patch(out, *far, 10), _patch(img, *far, 10))


def test_draw_pose_does_not_modify_input(coco_sample):
    path, kp, boxes = coco_sample[0]
    img = cv2.imread(str(path))
    before = img.copy()
    kp_before = kp.copy()
    out = draw_pose(img, kp, COCO17, boxes=boxes, color_by_side=False)
    assert np.array_equal(img, before)
    assert np.array_equal(kp, kp_before)
    assert out is not img and not np.array_equal(out, img)


def test_draw_pose_skips_unlabelled_joint(coco_sample):
    # A real v == 0 joint from the annotations, placed inside the person's box.
    for path, kp, boxes in coco_sample:  # noqa: B007 - the last one is used below
        hits = np.argwhere(kp[:, :, 2] == 0)
        if hits.size:
            p, j = hits[0]
            break
    else:
        pytest.fail("no v == 0 joint in the sample")
    img = cv2.imread(str(path))
    x, y, bw, bh = boxes[p]
    only = np.zeros((1, 17, 3))
    only[0, j] = (x + bw / 2, y + bh / 2, kp[p, j, 2])  # v == 0: must not be drawn
    assert np.array_equal(draw_pose(img, only, COCO17), img)

    only[0, j, 2] = 2  # the control: the same joint, labelled, is drawn there
    drawn = draw_pose(img, only, COCO17)
    assert not np.array_equal(_patch(drawn, x + bw / 2, y + bh / 2, 1), _patch(img, x + bw / 2, y + bh / 2, 1))


def test_draw_pose_score_threshold_and_boxes():
    img = np.full((200, 300, 3), 90, np.uint8)
    kp = np.zeros((1, 17, 2))
    kp[0, :, 0] = np.linspace(30, 270, 17)
    kp[0, :, 1] = 100
    scores = np.zeros((1, 17))
    scores[0, 5] = 0.9  # left_shoulder
    scores[0, 6] = 0.1  # right_shoulder, below the threshold
    out = draw_pose(img, kp, COCO17, scores=scores, score_thr=0.2)
    assert not np.array_equal(_patch(out, *kp[0, 5], 1), _patch(img, *kp[0, 5], 1))
    assert np.array_equal(_patch(out, *kp[0, 6], 3), _patch(img, *kp[0, 6], 3))
    # The (5, 6) limb needs both joints: nothing between them.
    mid = kp[0, 5:7].mean(axis=0)
    assert np.array_equal(_patch(out, *mid, 1), _patch(img, *mid, 1))

    boxed = draw_pose(img, np.zeros((0, 17, 3)), COCO17, boxes=[[50, 40, 100, 80]])
    assert not np.array_equal(boxed[40, 100], img[40, 100])  # top edge
    assert np.array_equal(boxed[80, 100], img[80, 100])  # inside


def test_draw_pose_colours_by_side():
    img = np.zeros((100, 100, 3), np.uint8)
    kp = np.full((1, 17, 3), 0.0)
    kp[0, 5] = (25, 50, 1)  # left_shoulder
    kp[0, 6] = (75, 50, 1)  # right_shoulder
    out = draw_pose(img, kp, COCO17, thickness=3)
    b, g, r = out[50, 25].astype(int)
    assert g > r and g > b  # left: greens
    b, g, r = out[50, 75].astype(int)
    assert r > g and r > b  # right: reds/oranges
    b, g, r = out[50, 50].astype(int)
    assert b > g and b > r  # a left-right limb: the centre family (blues)
    out_rgb = draw_pose(img, kp, COCO17, thickness=3, rgb=True)
    assert np.array_equal(out_rgb[50, 75], out[50, 75][::-1])


def test_keypoint_sides():
    sides = keypoint_sides(COCO17.keypoints)
    assert sides[0] == "center"
    assert [sides[i] for i in (1, 5, 15)] == ["left"] * 3
    assert [sides[i] for i in (2, 6, 16)] == ["right"] * 3
    aic = keypoint_sides(AIC14.keypoints)
    assert aic[0] == "right" and aic[3] == "left" and aic[12:] == ["center", "center"]
    assert keypoint_sides(["l_knee", "Knee_R", "pelvis", "lower_neck"]) == ["left", "right", "center", "center"]


def test_draw_pose_rejects_wrong_k():
    with pytest.raises(ValueError, match="K=14"):
        draw_pose(np.zeros((10, 10, 3), np.uint8), np.zeros((1, 14, 3)), COCO17)


# ------------------------------------------------------------------------------ grids


def test_make_image_grid_shapes():
    rng = np.random.default_rng(0)
    sizes = [(30, 40), (60, 20), (10, 10), (40, 30), (25, 50)]  # (H, W)
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    grid = make_image_grid(imgs, ncols=4, tile_size=(40, 30), pad=2)
    assert grid.shape == (2 * 30 + 3 * 2, 4 * 40 + 5 * 2, 3)
    # Tile 0 fits exactly; tile 1 (60 x 20, tall) is letterboxed: black at its sides.
    assert np.array_equal(grid[2:32, 2:42], imgs[0])
    assert np.all(grid[2:32, 44:46] == 0)
    assert np.all(grid[0:2] == 255) and np.all(grid[:, 0:2] == 255)  # padding
    # Default tile: largest width and height; fewer images than columns -> fewer columns.
    g2 = make_image_grid(imgs[:2], ncols=4, pad=0)
    assert g2.shape == (60, 2 * 40, 3)
    assert make_image_grid(imgs, ncols=2, tile_size=(8, 6), pad=1).shape == (3 * 6 + 4, 2 * 8 + 3, 3)
    with pytest.raises(ValueError):
        make_image_grid([], ncols=4)


def test_draw_heatmaps_grid(coco_sample):
    path, kp, boxes = _single_person(coco_sample)
    img = cv2.imread(str(path))
    x, y, w, h = boxes[0].astype(int)
    crop = cv2.resize(img[y:y + h, x:x + w], (192, 256))
    yy, xx = np.mgrid[:64, :48]
    gx = (kp[0, :, 0] - x) * 48 / w
    gy = (kp[0, :, 1] - y) * 64 / h
    hm = np.exp(-((xx - gx[:, None, None]) ** 2 + (yy - gy[:, None, None]) ** 2) / 8.0).astype(np.float32)
    out = draw_heatmaps(crop, hm, COCO17, ncols=6)
    assert out.shape == (3 * 256 + 4 * 2, 6 * 192 + 7 * 2, 3)  # 17 heatmaps + the crop
    with pytest.raises(ValueError, match="heatmaps"):
        draw_heatmaps(crop, hm[:5], COCO17)


# ------------------------------------------------------------------------------ files


def test_save_prediction_grid(coco_sample, tmp_path):
    items = [(p, kp, boxes) for p, kp, boxes in coco_sample]
    items.append((cv2.imread(str(coco_sample[0][0])), coco_sample[0][1][0], None))  # array, one person
    out = save_prediction_grid(tmp_path / "sub" / "preds.png", items, COCO17, ncols=3, max_items=4)
    assert out == tmp_path / "sub" / "preds.png"
    back = cv2.imread(str(out))
    assert back is not None and back.ndim == 3
    assert back.shape[1] > back.shape[0]  # 2 rows x 3 columns of landscape tiles
    jpg = save_prediction_grid(tmp_path / "preds.jpg", items, COCO17, tile_size=(160, 120))
    assert cv2.imread(str(jpg)).shape == (2 * 120 + 3 * 2, 4 * 160 + 5 * 2, 3)


def test_save_prediction_grid_unreadable_image(coco_sample, tmp_path):
    missing = tmp_path / "no_such_image.jpg"
    with pytest.raises(FileNotFoundError, match="no_such_image.jpg"):
        save_prediction_grid(tmp_path / "x.png", [(missing, np.zeros((0, 17, 3)), None)], COCO17)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        save_prediction_grid(tmp_path / "x.png", [(broken, np.zeros((0, 17, 3)), None)], COCO17)
    with pytest.raises(ValueError, match="extension"):
        save_prediction_grid(tmp_path / "x.gif", [(coco_sample[0][0], coco_sample[0][1], None)], COCO17)


def test_plot_training_curves(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    lines = ["epoch,step,train_loss,lr,AP,note"]
    for e in range(6):
        ap = f"{0.4 + e / 50:.3f}" if e % 2 else ""  # evaluated every other epoch
        lines.append(f"{e},{e * 10},{1 / (e + 1):.4f},{1e-3 * 0.1 ** (e // 3)},{ap},run-a")
    csv_path.write_text("\n".join(lines) + "\n")
    out = plot_training_curves(csv_path, tmp_path / "plots" / "curves.png")
    assert out == tmp_path / "plots" / "curves.png"
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 300

    header_only = tmp_path / "empty.csv"
    header_only.write_text("epoch,train_loss\n")
    assert cv2.imread(str(plot_training_curves(header_only, tmp_path / "empty.png"))) is not None


# ------------------------------------------------------------------------------ network inputs


def test_to_uint8_image_round_trip(coco_sample):
    bgr = cv2.resize(cv2.imread(str(coco_sample[0][0])), (96, 128))
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
    tensor = ((rgb - mean) / std).transpose(2, 0, 1)
    back = to_uint8_image(tensor, IMAGENET_MEAN, IMAGENET_STD, rgb=True)
    assert back.shape == bgr.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - bgr.astype(int)).max() <= 1

    # Channels kept as they are with rgb=False; means on the 0..255 scale; torch tensors.
    torch = pytest.importorskip("torch")
    m255, s255 = (103.53, 116.28, 123.675), (57.375, 57.12, 58.395)
    t = torch.from_numpy(((bgr.astype(np.float32) - m255) / s255).transpose(2, 0, 1).copy())
    back2 = to_uint8_image(t[None], m255, s255, rgb=False)
    assert np.abs(back2.astype(int) - bgr.astype(int)).max() <= 1
