"""Keypoint sets: built-ins, custom sets from configs and from COCO categories."""

from __future__ import annotations

import numpy as np
import pytest

from semipose.skeletons import AIC14, COCO17, Skeleton, get_skeleton, infer_flip_pairs


def test_coco17_facts():
    assert COCO17.num_keypoints == 17 and len(COCO17.edges) == 19
    assert COCO17.sigmas[0] == pytest.approx(0.026) and COCO17.sigmas[-1] == pytest.approx(0.089)
    perm = COCO17.flip_index
    assert sorted(perm.tolist()) == list(range(17)) and (perm[perm] == np.arange(17)).all()
    for a, b in COCO17.flip_pairs:
        assert COCO17.keypoints[a].replace("left", "") == COCO17.keypoints[b].replace("right", "")


def test_flip_pairs_inferred_from_names():
    assert infer_flip_pairs(COCO17.keypoints) == COCO17.flip_pairs
    assert infer_flip_pairs(AIC14.keypoints) == AIC14.flip_pairs
    assert infer_flip_pairs(["head", "l_hand", "r_hand", "tail_left", "tail_right"]) == ((1, 2), (3, 4))


def test_custom_skeleton_from_dict_and_category():
    sk = Skeleton.from_dict({"name": "fly", "keypoints": ["head", "left_wing", "right_wing"], "sigmas": [0.05, 0.1, 0.1]})
    assert sk.flip_pairs == ((1, 2),) and sk.flip_index.tolist() == [0, 2, 1]
    assert Skeleton.from_dict(sk.to_dict()) == sk and sk != COCO17
    cat = {"name": "fly", "keypoints": ["head", "left_wing", "right_wing"], "skeleton": [[1, 2], [1, 3]], "sigmas": [0.05, 0.1, 0.1]}
    sk2 = Skeleton.from_coco_category(cat)
    assert sk2.edges == ((0, 1), (0, 2)) and np.allclose(sk2.sigmas, [0.05, 0.1, 0.1])
    # a category with COCO's names is the built-in set
    assert Skeleton.from_coco_category({"keypoints": list(COCO17.keypoints)}) is COCO17
    assert get_skeleton("COCO17") is COCO17


def test_skeleton_errors():
    with pytest.raises(ValueError, match="sigmas"):
        Skeleton.from_dict({"keypoints": ["a", "b"]})
    with pytest.raises(ValueError, match="2 keypoints but 3 sigmas"):
        Skeleton.from_dict({"keypoints": ["a", "b"], "sigmas": [0.1, 0.1, 0.1]})
    with pytest.raises(ValueError, match="out of range"):
        Skeleton.from_dict({"keypoints": ["a", "b"], "sigmas": [0.1, 0.1], "flip_pairs": [[0, 5]]})
    with pytest.raises(ValueError, match="unknown skeleton"):
        get_skeleton("coco18")
