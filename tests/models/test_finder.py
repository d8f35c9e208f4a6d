"""The instance finder: peaks of a one-channel heatmap, anchors mapped back to frame pixels,
boxes of the configured size, and which files open as a finder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semipose.errors import CheckpointError
from semipose.models.card import ModelCard
from semipose.models.finder import CentroidFinder, find_peaks, finder_params, open_instance_detector, peak_decoder
from semipose.params import FinderParams


def _gauss(h: int, w: int, centres, sigma: float = 2.0, heights=None) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w), np.float32)
    for i, (x, y) in enumerate(centres):
        a = 1.0 if heights is None else heights[i]
        out = np.maximum(out, a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return out


def test_peaks_are_found_best_first_at_subpixel_positions():
    hm = _gauss(64, 80, [(20.3, 30.0), (50.0, 10.6)], heights=[0.6, 0.9])
    xy, score = find_peaks(hm, 0.2, 3.0)
    assert len(xy) == 2
    assert score[0] > score[1]  # best first
    np.testing.assert_allclose(xy[0], [50.0, 10.6], atol=0.15)
    np.testing.assert_allclose(xy[1], [20.3, 30.0], atol=0.15)


def test_close_weak_and_surplus_peaks_are_dropped():
    hm = _gauss(64, 64, [(20, 20), (25, 20), (50, 50), (10, 55)], sigma=1.0, heights=[1.0, 0.8, 0.5, 0.1])
    xy, _ = find_peaks(hm, 0.2, 3.0)
    assert len(xy) == 3  # all but the one under the threshold
    xy, _ = find_peaks(hm, 0.2, 8.0)  # (25, 20) is within 8 px of the stronger (20, 20)
    np.testing.assert_allclose(xy[:, 0].round(), [20, 50])
    xy, _ = find_peaks(hm, 0.2, 3.0, max_peaks=1)
    assert len(xy) == 1
    assert len(find_peaks(np.zeros((16, 16), np.float32), 0.2, 2.0)[0]) == 0  # nothing found: an empty answer


def test_the_batch_decoder_pads_frames_with_fewer_peaks():
    maps = torch.from_numpy(np.stack([_gauss(32, 32, [(5, 5), (20, 25)]), _gauss(32, 32, [(10, 12)])]))[:, None]
    xy, score = peak_decoder(3, 0.2, 2.0)(maps)
    assert xy.shape == (2, 3, 2) and score.shape == (2, 3)
    assert (score[0] > 0).sum() == 2 and (score[1] > 0).sum() == 1 and float(score[1, 1]) == 0.0


class _FixedHeatmap(torch.nn.Module):
    """A 'network' whose heatmap has peaks at given heatmap pixels, whatever the input."""

    def __init__(self, hm: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("hm", torch.from_numpy(hm)[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hm.expand(len(x), -1, -1, -1)


def _card(input_size=(128, 96), heatmap=(64, 48)) -> ModelCard:
    from semipose.data.finder import anchor_skeleton

    return ModelCard(arch="resnet18", skeleton=anchor_skeleton(1).to_dict(), input_size=input_size, heatmap_size=heatmap,
                     config={"task": "finder", "finder": {"crop": [60.0, 40.0], "threshold": 0.3}})


def test_the_anchors_come_back_in_frame_pixels_with_boxes_of_the_crop():
    # a 512 x 384 frame into a 128 x 96 input: 4 frame px per input px, 8 per heatmap px (stride 2)
    card = _card()
    finder = CentroidFinder(_FixedHeatmap(_gauss(48, 64, [(10.0, 20.0), (40.0, 30.0)])), card, finder_params(card, "test"))
    frame = np.zeros((384, 512, 3), np.uint8)
    pts, score = finder.anchors(frame)
    # heatmap pixel centres: frame = (x + 0.5) * 8 - 0.5 ... as the codec maps them; check against the codec
    expect = card.codec().to_image(np.array([[[10.0, 20.0], [40.0, 30.0]]]), *[v[None] for v in finder.frame_crop(512, 384)])[0]
    order = np.argsort(pts[:, 0])
    np.testing.assert_allclose(pts[order], expect, atol=0.5)
    boxes, s = finder(frame)
    assert boxes.shape == (2, 4) and np.allclose(boxes[:, 2:], [60, 40])
    np.testing.assert_allclose(boxes[:, :2] + [30, 20], pts, atol=1e-4)  # centred on the anchors
    empty = CentroidFinder(_FixedHeatmap(np.zeros((48, 64), np.float32)), card, finder_params(card, "test"))
    b, s = empty(frame)
    assert b.shape == (0, 4) and s.shape == (0,)  # a frame with no instance: no box, no error


def test_a_pose_model_is_not_a_finder(tmp_path):
    from conftest import make_model_file

    pose = make_model_file(tmp_path / "pose.pt")
    with pytest.raises(CheckpointError, match="a pose model, not an instance finder"):
        open_instance_detector(str(pose))
    assert open_instance_detector(lambda im: (np.zeros((0, 4)), np.zeros(0)))  # a callable is taken as it is


def test_finder_params_need_a_crop():
    with pytest.raises(CheckpointError, match="finder.crop"):
        CentroidFinder(torch.nn.Identity(), _card(), FinderParams())
