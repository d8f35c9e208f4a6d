"""Keypoint sets: built-ins, custom sets from configs and from COCO categories."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


# ------------------------------------------------------------------ union skeleton and mappings


def _norm(name: str) -> str:
    return name.lower().replace(" ", "_")


def test_union24_and_mpii16_facts():
    from semipose.skeletons import MPII16, UNION24

    assert get_skeleton("union24") is UNION24 and get_skeleton("MPII16") is MPII16
    assert UNION24.num_keypoints == 24 and MPII16.num_keypoints == 16
    assert UNION24.flip_pairs == ((1, 4), (2, 5), (3, 6), (14, 17), (15, 18), (16, 19), (20, 21), (22, 23))
    assert UNION24.upper_body == tuple(range(7, 24)) and UNION24.lower_body == tuple(range(7))
    assert MPII16.flip_pairs == ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
    for sk in (UNION24, MPII16):
        assert infer_flip_pairs(sk.keypoints) == sk.flip_pairs
        assert Skeleton.from_dict(sk.to_dict()) == sk
        assert Skeleton.from_coco_category({"keypoints": list(sk.keypoints)}) is sk


@pytest.mark.parametrize("name,index,unmapped", [
    ("coco17", (11, 21, 20, 23, 22, 14, 17, 15, 18, 16, 19, 4, 1, 5, 2, 6, 3), {0, 7, 8, 9, 10, 12, 13}),
    ("mpii16", (3, 2, 1, 4, 5, 6, 0, 8, 10, 13, 19, 18, 17, 14, 15, 16), {7, 9, 11, 12, 20, 21, 22, 23}),
    ("aic14", (17, 18, 19, 14, 15, 16, 1, 2, 3, 4, 5, 6, 13, 9), {0, 7, 8, 10, 11, 12, 20, 21, 22, 23}),
])
def test_union_mappings_match_spec_tables(name, index, unmapped):
    from semipose.skeletons import UNION24, get_union_mapping

    m = get_union_mapping(name)
    assert m.index.tolist() == list(index)
    assert set(np.flatnonzero(~m.supervised).tolist()) == unmapped
    # the tables agree with matching joint names (what the reference's get_mapping does)
    for k, u in enumerate(index):
        assert _norm(m.source.keypoints[k]) == UNION24.keypoints[u]
    # flip pairs map onto union flip pairs
    union_pairs = set(UNION24.flip_pairs)
    for a, b in m.source.flip_pairs:
        assert tuple(sorted((int(m.index[a]), int(m.index[b])))) in union_pairs
    # round trips: numpy keypoints, torch heatmaps, visibilities
    rng = np.random.default_rng(0)
    k = len(index)
    kp = rng.normal(size=(3, k, 3))
    up = m.to_union(kp)
    assert up.shape == (3, 24, 3) and np.all(up[:, sorted(unmapped)] == 0)
    np.testing.assert_array_equal(m.from_union(up), kp)
    hm = torch.randn(2, k, 8, 6)
    assert torch.equal(m.from_union(m.to_union(hm, axis=1), axis=1), hm)
    vis = rng.integers(0, 2, (5, k))
    assert m.to_union(vis, axis=-1).sum() == vis.sum()
    with pytest.raises(ValueError, match="expected K"):
        m.to_union(np.zeros((24, 3)))


def test_coco_inverse_is_reference_list():
    from semipose.skeletons import get_union_mapping

    # COCODataset.combine_evaluate's list (spec §2.2)
    assert get_union_mapping("coco17").inverse.tolist() == [
        -1, 12, 14, 16, 11, 13, 15, -1, -1, -1, -1, 0, -1, -1, 5, 7, 9, 6, 8, 10, 2, 1, 4, 3
    ]
    with pytest.raises(ValueError, match="no union mapping"):
        get_union_mapping("union24")


def test_edges_out_of_range_warn_and_are_dropped(caplog):
    """Edges only draw: CrowdPose's files ship COCO's 17-joint skeleton with 14 keypoints."""
    names = [f"j{i}" for i in range(14)]
    coco_edges = [[a + 1, b + 1] for a, b in get_skeleton("coco17").edges]
    with caplog.at_level("WARNING", logger="semipose"):
        sk = Skeleton.from_coco_category({"name": "person", "keypoints": names, "skeleton": coco_edges}, default_sigma=0.05)
    assert sk.num_keypoints == 14 and all(a < 14 and b < 14 for a, b in sk.edges)
    assert len(sk.edges) == sum(1 for a, b in get_skeleton("coco17").edges if a < 14 and b < 14)
    assert "edge(s) out of range for K=14 dropped (only used for drawing): (15, 13)" in caplog.text


@pytest.mark.parametrize(
    "name,k,first_sigma,pair",
    [("crowdpose14", 14, 0.079, ("left_shoulder", "right_shoulder")), ("posetrack17", 17, 0.026, ("left_ear", "right_ear"))],
)
def test_crowdpose_and_posetrack_sets(name, k, first_sigma, pair):
    sk = get_skeleton(name)
    assert sk.num_keypoints == k and sk.sigmas[0] == pytest.approx(first_sigma)
    a, b = sk.keypoints.index(pair[0]), sk.keypoints.index(pair[1])
    assert (min(a, b), max(a, b)) in sk.flip_pairs
    assert set(infer_flip_pairs(sk.keypoints)) == set(sk.flip_pairs)  # every left/right pair, nothing else
    # a file whose names are the set's picks it up, with its official sigmas (not a default)
    cat = {"name": "person", "keypoints": list(sk.keypoints), "skeleton": [[a + 1, b + 1] for a, b in get_skeleton("coco17").edges]}
    assert Skeleton.from_coco_category(cat, default_sigma=0.025) is sk


def test_keypoint_name_mismatch():
    from semipose.skeletons import keypoint_name_mismatch

    coco, pt = get_skeleton("coco17"), get_skeleton("posetrack17")
    assert keypoint_name_mismatch(coco, coco) is None
    msg = keypoint_name_mismatch(coco, pt)
    assert msg == ("keypoint names differ: the model's coco17 has 'left_eye' where the data's posetrack17 has 'head_bottom' "
                   "(keypoint 1; 2 of 17 differ)")
    assert "predicts 17 keypoints (coco17), the data has 14 (crowdpose14)" in keypoint_name_mismatch(coco, get_skeleton("crowdpose14"))
