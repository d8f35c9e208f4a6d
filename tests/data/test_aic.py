"""AI Challenger: the official-format reader and the COCO converter, checked against the shared
COCO-layout sample (an official-format file is built from it here: the sample has none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from conftest import crops
from semipose.data.aic import aic_to_coco, load_aic
from semipose.data.coco import load_coco_keypoints
from semipose.errors import DataFormatError
from semipose.evaluation import build_coco_results, evaluate_coco_keypoints, load_coco_gt
from semipose.skeletons import AIC14

AIC_JSON = "aic/aic_sample.json"
COCO_TO_AIC_FLAG = {2: 1, 1: 2, 0: 3}
#: the official AIC delta vector (spec §7.5)
DELTA = 2 * np.array([0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
                      0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173])


def official_from_coco(coco: dict) -> list[dict]:
    """The official AIC layout of a COCO-layout AIC file (flags 1 visible / 2 occluded / 3 none)."""
    out = []
    for img in coco["images"]:
        kps, boxes = {}, {}
        for a in (a for a in coco["annotations"] if a["image_id"] == img["id"]):
            key = f"human{len(kps) + 1}"
            kp = list(a["keypoints"])
            kp[2::3] = [COCO_TO_AIC_FLAG[v] for v in kp[2::3]]
            x, y, w, h = a["bbox"]
            kps[key], boxes[key] = kp, [x, y, x + w, y + h]
        out.append({"image_id": Path(img["file_name"]).stem, "keypoint_annotations": kps, "human_annotations": boxes})
    return out


@pytest.fixture()
def official(sample_data, tmp_path):
    coco = json.loads((sample_data / AIC_JSON).read_text())
    path = tmp_path / "keypoint_validation_annotation.json"
    path.write_text(json.dumps(official_from_coco(coco)))
    return path, coco


def test_converter_reproduces_the_coco_layout(official, tmp_path):
    path, coco = official
    conv = aic_to_coco(path, tmp_path / "out" / "aic_coco.json")
    assert json.loads((tmp_path / "out" / "aic_coco.json").read_text()) == conv
    assert [i["file_name"] for i in conv["images"]] == [i["file_name"] for i in coco["images"]]
    assert conv["categories"][0]["keypoints"] == coco["categories"][0]["keypoints"]
    assert conv["categories"][0]["skeleton"] == coco["categories"][0]["skeleton"]
    assert len(conv["annotations"]) == len(coco["annotations"]) == 9
    for got, want in zip(conv["annotations"], coco["annotations"]):
        assert got["keypoints"] == want["keypoints"] and got["bbox"] == want["bbox"]
        assert got["num_keypoints"] == want["num_keypoints"] and got["iscrowd"] == 0
        assert got["area"] == want["bbox"][2] * want["bbox"][3] + 1
    plain = aic_to_coco(json.loads(path.read_text()), area_plus_one=False, occluded_as_labelled=False)
    a = plain["annotations"][0]
    assert a["area"] == a["bbox"][2] * a["bbox"][3]
    assert 1 not in a["keypoints"][2::3] and a["num_keypoints"] == sum(v == 2 for v in coco["annotations"][0]["keypoints"][2::3])


def test_reader_matches_coco_layout_reader(official, sample_data):
    path, _ = official
    s = load_aic(path, sample_data / "aic/images")
    ref = load_coco_keypoints(sample_data / AIC_JSON, sample_data / "aic/images")
    assert s.skeleton is AIC14 and len(s) == len(ref) == 9 and s.num_images == 3
    for r, q in zip(s.records, ref.records):
        assert r.image_path == q.image_path and Path(r.image_path).is_file()
        assert r.image_id == q.image_id and r.ann_id == q.ann_id - 3  # sample ids start at 4
        np.testing.assert_array_equal(r.keypoints, q.keypoints)
        # the reference AIC loader does not clip boxes (no w − 1): centres differ by < 1 px
        (rc, rs), (qc, qs) = r.crop_box(0.75, 1.25), q.crop_box(0.75, 1.25)
        np.testing.assert_allclose(rc, qc, atol=0.5 + 1e-6)
        np.testing.assert_allclose(rs, qs, rtol=0.02)
    assert len(load_aic(path, "img", max_instances=4)) == 4


def test_gt_as_predictions_gives_ap_1_with_aic_sigmas(official, sample_data, tmp_path):
    path, _ = official
    out = tmp_path / "aic_coco.json"
    aic_to_coco(path, out)
    raw = json.loads(out.read_text())
    gt = load_coco_gt(out, skeleton=AIC14)
    recs = load_aic(path, sample_data / "aic/images").records
    coords = np.stack([r.keypoints[:, :2] for r in recs])
    maxvals = np.stack([(r.keypoints[:, 2] > 0).astype(np.float32) for r in recs])
    res = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=AIC14.sigmas)
    m = evaluate_coco_keypoints(gt, res, sigmas=AIC14.sigmas)
    assert m["AP"] == 1.0 and m["AR"] == 1.0
    # a file without 'area' / 'iscrowd' evaluates the same
    for a in raw["annotations"]:
        del a["area"], a["iscrowd"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(raw))
    assert evaluate_coco_keypoints(load_coco_gt(bare), res, sigmas=AIC14.sigmas)["AP"] == 1.0


def test_cocoeval_oks_equals_official_aic_oks(official, sample_data):
    """With area = box area + 1 and visible joints only, COCOeval's OKS is the official one."""
    path, _ = official
    entries = json.loads(path.read_text())
    gt = load_coco_gt(aic_to_coco(entries, occluded_as_labelled=False), skeleton=AIC14)
    recs = load_aic(path, sample_data / "aic/images").records
    rng = np.random.default_rng(0)
    coords = np.stack([r.keypoints[:, :2] for r in recs]) + rng.normal(0, 6, (len(recs), 14, 2))
    res = build_coco_results(recs, coords, np.ones((len(recs), 14)), **crops(recs), sigmas=AIC14.sigmas, use_nms=False)
    ev = COCOeval(gt, gt.loadRes(res), "keypoints")
    ev.params.kpt_oks_sigmas = AIC14.sigmas
    ev.params.imgIds = sorted(gt.getImgIds())
    checked = 0
    for img_id, e in enumerate(entries, start=1):
        ev._prepare()
        oks = ev.computeOks(img_id, 1)  # (D, G), detections sorted by score (all 1: stable order)
        preds = [np.asarray(d["keypoints"]).reshape(14, 3) for d in ev._dts[img_id, 1]]
        for gi, key in enumerate(e["keypoint_annotations"]):
            kp = np.asarray(e["keypoint_annotations"][key], dtype=np.float64).reshape(14, 3)
            x1, y1, x2, y2 = e["human_annotations"][key]
            vis = kp[:, 2] == 1
            g_ann = ev._gts[img_id, 1][gi]
            assert g_ann["aic_human"] == key
            for di, p in enumerate(preds):
                d2 = ((kp[vis, :2] - p[vis, :2]) ** 2).sum(1)
                official_oks = np.mean(np.exp(-d2 / 2 / DELTA[vis] ** 2 / ((x2 - x1) * (y2 - y1) + 1)))
                assert oks[di, gi] == pytest.approx(official_oks, rel=1e-9)
                checked += 1
    assert checked == sum(len(e["keypoint_annotations"]) ** 2 for e in entries) == 27  # all G × D pairs


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d[1]["keypoint_annotations"].update(human1=[1, 2, 1]), r"entry 1 \(\w+\), human1: 3 keypoint numbers, expected 42"),
        (lambda d: d[0]["human_annotations"].pop("human2"), r"entry 0 \(\w+\), human2: no box"),
        (lambda d: d[2]["keypoint_annotations"]["human1"].__setitem__(2, 0),
         r"entry 2 \(\w+\), human1: visibility flags must be 1, 2 or 3, got \[0\.0\]"),
        (lambda d: d[0]["human_annotations"].update(human1=[1, 2, 3]), r"entry 0 \(\w+\), human1: box must be \[x1, y1, x2, y2\]"),
        (lambda d: d[1].pop("human_annotations"), r"entry 1 \(\w+\): missing 'human_annotations'"),
    ],
)
def test_malformed_official_files(official, tmp_path, mutate, message):
    path, _ = official
    data = json.loads(path.read_text())
    mutate(data)
    bad = tmp_path / "bad_aic.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"bad_aic\.json: " + message):
        load_aic(bad, tmp_path)
    with pytest.raises(DataFormatError, match=message):
        aic_to_coco(data)


def test_not_a_list(tmp_path):
    p = tmp_path / "coco_like.json"
    p.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DataFormatError, match=r"coco_like\.json: expected the official AIC list"):
        load_aic(p, tmp_path)
