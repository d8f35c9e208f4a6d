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

    with pytest.raises(DataFormatError, match="2 labelled poses with every joint labelled; a pose prior needs at least 3"):
        PosePriorLoss().fit(torch.rand(10, 13, 2), torch.arange(10)[:, None].expand(10, 13) < 2)


def test_the_video_terms_in_a_training_step():
    """Supervised + temporal + pose prior, and PoseCons + both: each term under its own name,
    weighted by weight × ramp-up, one pass over (t − 1, t, t + 1), gradients reach the network."""
    from test_methods import Recorder, _batch

    from semipose.ssl.methods import SemiSupervisedModel

    sup, target, wsup, unsup, wun = _batch()
    context = torch.stack([unsup + 0.5, unsup - 0.5], dim=1)  # (M, 2, 3, H, W)
    kp = torch.rand(40, 3, 2) * 20
    prior = PosePriorLoss(weight=0.5, epsilon=0.0).fit(kp, torch.ones(40, 3, dtype=torch.bool))
    temporal = TemporalLoss(weight=2.0, epsilon=0.0, conf_thr=0.0)
    net = Recorder((1, 1), 0)
    model = SemiSupervisedModel([net], method="supervised", video_losses=[temporal, prior])
    assert model.needs_context
    out = model(sup, target, wsup, unsup, wun, context, unsup_scale=0.5)
    assert set(out.terms) == {"sup", "temporal", "pose_prior"}
    assert len(net.calls) == 2 and net.calls[1]["input"].shape[0] == 3 * unsup.shape[0]  # one pass over the three frames
    with torch.no_grad():
        hm = net(torch.cat([context[:, 0], unsup, context[:, 1]])).split(unsup.shape[0])
        expected = out.terms["sup"] + 0.5 * (2.0 * temporal(list(hm)) + 0.5 * prior(hm[1]))
    torch.testing.assert_close(out.loss.detach(), expected)
    net.zero_grad()
    (out.loss - out.terms["sup"]).backward()
    assert net.conv.weight.grad is not None and net.conv.weight.grad.abs().sum() > 0
    with pytest.raises(Exception, match="neighbouring frames"):
        model(sup, target, wsup, unsup, wun)
    # with a consistency method: the video terms join the consistency term
    cons = SemiSupervisedModel([Recorder((1, 1), 0)], method="posecons", video_losses=[prior])
    out = cons(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    assert set(out.terms) == {"sup", "cons", "pose_prior"} and not cons.needs_context
    with pytest.raises(Exception, match="distinct names"):
        SemiSupervisedModel([Recorder((1, 1), 0)], method="supervised", video_losses=[prior, prior])
