"""The video-native losses compute what they say: a hand-made jump is penalised by its excess over
epsilon, unconfident joints are not; a pose off the manifold of the real two-fly poses
(../shared/data/sleap-flies) costs more than the held-out real ones; gradients reach the heatmaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semipose.ssl.video_losses import PosePriorLoss, TemporalLoss, soft_argmax


def _heatmaps(points: np.ndarray, size=(24, 32), sigma=1.0, peak=1.0) -> torch.Tensor:
    """``(M, K, h, w)`` Gaussians at ``points`` ``(M, K, 2)`` (heatmap pixels)."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    p = np.asarray(points, np.float64)
    hm = np.exp(-((xs - p[..., 0, None, None]) ** 2 + (ys - p[..., 1, None, None]) ** 2) / (2 * sigma**2)) * peak
    return torch.tensor(hm, dtype=torch.float32)


def test_soft_argmax_finds_the_peak():
    pts = np.array([[[5.0, 7.0], [12.3, 20.6]]])
    xy, conf = soft_argmax(_heatmaps(pts))
    np.testing.assert_allclose(xy.numpy(), pts, atol=0.1)
    np.testing.assert_allclose(conf.numpy(), [[1.0, 0.94]], atol=0.07)


def test_a_hand_made_jump_is_penalised_by_its_excess():
    still = np.array([[[5.0, 7.0], [12.0, 20.0], [18.0, 10.0]]])
    moved = still.copy()
    moved[0, 1, 0] += 5.0  # 5 heatmap pixels = 20 input pixels at stride 4
    loss = TemporalLoss(epsilon=8.0, stride=4)
    assert loss([_heatmaps(still), _heatmaps(still), _heatmaps(still)]).item() == pytest.approx(0.0, abs=1e-3)
    got = loss([_heatmaps(still), _heatmaps(moved)]).item()
    assert got == pytest.approx((20.0 - 8.0) / 3, rel=0.02)  # one joint of three moved 12 px beyond epsilon
    # t-1, t, t+1 with the jump at t: two pairs of which each has it
    assert loss([_heatmaps(still), _heatmaps(moved), _heatmaps(still)]).item() == pytest.approx(2 * 12.0 / 6, rel=0.02)
    # a joint the network is not sure of (peak 0.1 < conf_thr) does not count
    faint = _heatmaps(moved)
    faint[0, 1] *= 0.1
    assert loss([_heatmaps(still), faint]).item() == pytest.approx(0.0, abs=1e-3)
    hm = _heatmaps(moved).requires_grad_(True)
    loss([_heatmaps(still), hm]).backward()
    assert hm.grad is not None and hm.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def fly_poses(sample_data):
    sio = pytest.importorskip("sleap_io")
    labels = sio.load_slp(str(sample_data / "sleap-flies/clip.slp"), open_videos=False)
    poses = np.stack([inst.numpy() for lf in labels.labeled_frames for inst in lf.instances])  # (N, 13, 2)
    return torch.tensor(poses, dtype=torch.float32)


def test_the_pose_prior_tells_real_poses_from_broken_ones(fly_poses):
    visible = torch.isfinite(fly_poses).all(dim=2)
    train, held = fly_poses[::2], fly_poses[1::2]
    prior = PosePriorLoss(epsilon=0.1).fit(torch.nan_to_num(train), visible[::2])
    assert 1 <= prior.components.shape[0] < 26
    real = held[visible[1::2].all(dim=1)][:200]
    err_real = prior.reconstruction_error(real)
    broken = real.clone()
    broken[:, [0, 2]] = broken[:, [2, 0]]  # head and abdomen swapped: a fly that cannot be
    err_broken = prior.reconstruction_error(broken)
    assert float(err_broken.median()) > 3 * float(err_real.median())
    # on heatmaps: the broken poses cost more, and the gradient reaches them
    scale = 32.0 / float(real.max())
    hm_real, hm_broken = _heatmaps(real[:8].numpy() * scale), _heatmaps(broken[:8].numpy() * scale).requires_grad_(True)
    lb = prior(hm_broken)
    assert lb.item() > prior(hm_real).item()
    lb.backward()
    assert hm_broken.grad is not None and hm_broken.grad.abs().sum() > 0


def test_the_pose_prior_needs_enough_complete_poses():
    from semipose.errors import DataFormatError

    with pytest.raises(DataFormatError, match="needs at least 26"):
        PosePriorLoss().fit(torch.rand(10, 13, 2), torch.ones(10, 13, dtype=torch.bool))
