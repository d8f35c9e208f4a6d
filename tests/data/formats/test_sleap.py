"""`semipose data import --format sleap` on SLEAP files written by sleap-io in the real layouts
(a video-backed .slp of the shared mirror-mouse video, the same labels as a .pkg.slp with the
frames embedded, an image sequence, several animals), and DeepLabCut .h5 labels made from the
shared CSV; bad files are one line."""

from __future__ import annotations

import json
import shutil
import sys

import cv2
import numpy as np
import pytest

from semipose.cli import main
from semipose.data.importers import import_project
from semipose.errors import DataFormatError, MissingImageError
from semipose.image import read_image

sio = pytest.importorskip("sleap_io")

NODES = ["nose", "ear", "tail"]
POINTS = {0: [[100.5, 50.25], [120.0, 60.0], [np.nan, np.nan]], 30: [[200.0, 80.0], [210.0, 90.5], [250.0, 300.0]]}


def _labels(video, frames=POINTS, predicted=True, second_animal=False):
    skel = sio.Skeleton(list(NODES), edges=[("nose", "ear"), ("ear", "tail")])
    lfs = []
    for fi, pts in frames.items():
        insts = [sio.Instance.from_numpy(np.array(pts, float), skeleton=skel)]
        if second_animal:
            insts.append(sio.Instance.from_numpy(np.array(pts, float) + 40.0, skeleton=skel))
        if predicted:
            insts.append(sio.PredictedInstance.from_numpy(np.array(pts, float) + 3.0, skeleton=skel, score=0.9))
        lfs.append(sio.LabeledFrame(video=video, frame_idx=fi, instances=insts))
    # a frame holding predictions only: not a label
    lfs.append(sio.LabeledFrame(video=video, frame_idx=50, instances=[
        sio.PredictedInstance.from_numpy(np.zeros((3, 2)), skeleton=skel, score=0.5)]))
    return sio.Labels(lfs)


@pytest.fixture
def video(sample_data, tmp_path):
    path = tmp_path / "session1.mp4"
    shutil.copy(sample_data / "mirror-mouse/videos/test_vid.mp4", path)
    return path


def _doc(out):
    return json.loads((out / "annotations.json").read_text())


def test_a_video_project_and_its_package(video, tmp_path, capsys):
    slp = tmp_path / "labels.slp"
    sio.save_slp(_labels(sio.Video.from_filename(str(video))), str(slp), verbose=False)
    assert main(["data", "import", str(slp), "--format", "sleap", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "2 images, 2 instances (2 with labels), 3 keypoints (nose, ear, tail); 5 of 6 keypoints labelled" in out
    assert "left out: 3 predicted, 1 unlabelled" in out
    doc = _doc(tmp_path / "a")
    assert doc["categories"][0]["keypoints"] == NODES and doc["categories"][0]["skeleton"] == [[1, 2], [2, 3]]
    # frames of a video are named by the frame rule and read from the (linked) video: no PNG written
    assert [im["file_name"] for im in doc["images"]] == ["session1.mp4#0", "session1.mp4#30"]
    assert sorted(p.name for p in (tmp_path / "a/images").iterdir()) == ["session1.mp4"]
    assert (tmp_path / "a/images/session1.mp4").resolve() == video.resolve()
    assert (doc["images"][0]["width"], doc["images"][0]["height"]) == (396, 406)
    a0 = doc["annotations"][0]
    assert a0["keypoints"] == [100.5, 50.25, 2, 120.0, 60.0, 2, 0.0, 0.0, 0] and a0["bbox"] == [0.0, 0.0, 396.0, 406.0]
    # the frame the labels name is the video's frame, through the one image reader
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, frame = cap.read()
    written = read_image(tmp_path / "a/images/session1.mp4#30")
    assert ok and np.array_equal(written, frame)

    # the same labels as a package with the frames embedded, moved away from the video
    pkg = tmp_path / "elsewhere/labels.pkg.slp"
    pkg.parent.mkdir()
    sio.save_slp(sio.load_slp(str(slp)), str(tmp_path / "p.pkg.slp"), embed="user", verbose=False)
    shutil.move(tmp_path / "p.pkg.slp", pkg)
    video.unlink()
    s = import_project(pkg, "sleap", tmp_path / "b")
    assert s.images == 2 and s.skipped == {"predicted": 3, "unlabelled": 1}
    assert _doc(tmp_path / "b")["annotations"] == doc["annotations"]
    # a package's embedded frames have no video to read from: written once as PNG
    assert [im["file_name"] for im in _doc(tmp_path / "b")["images"]] == ["session1/img000000.png", "session1/img000030.png"]
    again = cv2.imread(str(tmp_path / "b/images/session1/img000030.png"))
    assert np.abs(again.astype(int) - frame.astype(int)).max() <= 1


def test_several_animals_and_an_image_sequence(sample_data, tmp_path):
    images = sorted((sample_data / "mirror-mouse/labeled-data").glob("img0*.png"))[:3]
    seq = sio.Video.from_filename([str(p) for p in images])
    slp = tmp_path / "multi.slp"
    sio.save_slp(_labels(seq, frames={0: POINTS[0], 2: POINTS[30]}, predicted=False, second_animal=True), str(slp), verbose=False)
    s = import_project(slp, "sleap", tmp_path / "m")
    doc = _doc(tmp_path / "m")
    assert s.images == 2 and s.instances == 4
    assert [im["file_name"] for im in doc["images"]] == ["labeled-data/img00.png", "labeled-data/img02.png"]
    assert (tmp_path / "m/images/labeled-data/img02.png").resolve() == images[2].resolve()  # linked, not re-encoded
    boxes = [a["bbox"] for a in doc["annotations"] if a["image_id"] == 1]
    assert len(boxes) == 2 and boxes[0] != boxes[1] and all(b[2] < 100 for b in boxes)  # each animal its keypoints' extent


def test_bad_sleap_files_are_one_line(video, tmp_path, monkeypatch):
    bad = tmp_path / "bad.slp"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(DataFormatError, match=r"bad\.slp: cannot read as a SLEAP labels file"):
        import_project(bad, "sleap", tmp_path / "o")
    slp = tmp_path / "labels.slp"
    sio.save_slp(_labels(sio.Video.from_filename(str(video))), str(slp), verbose=False)
    video.unlink()
    with pytest.raises(MissingImageError, match=r"labels\.slp: labelled frame 1 .*video .*session1\.mp4 not found .*--images"):
        import_project(slp, "sleap", tmp_path / "o")
    monkeypatch.setitem(sys.modules, "sleap_io", None)
    with pytest.raises(DataFormatError, match=r"needs sleap-io \(pip install 'semipose\[formats\]'\)"):
        import_project(slp, "sleap", tmp_path / "o")


def test_dlc_h5_gives_the_csv_labels(sample_data, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("tables")
    src = sample_data / "mirror-mouse/CollectedData.csv"
    df = pd.read_csv(src, header=[0, 1, 2], index_col=0)
    h5 = tmp_path / "mm/CollectedData.h5"
    shutil.copytree(sample_data / "mirror-mouse/labeled-data", tmp_path / "mm/labeled-data", symlinks=True)
    df.to_hdf(h5, key="df_with_missing", mode="w")
    a = import_project(src, "dlc", tmp_path / "csv")
    b = import_project(h5, "dlc", tmp_path / "h5")
    assert (a.images, a.labelled_keypoints, a.empty_keypoints) == (b.images, b.labelled_keypoints, b.empty_keypoints) == (90, 1396, 134)
    assert _doc(tmp_path / "h5")["annotations"] == _doc(tmp_path / "csv")["annotations"]
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(DataFormatError, match=r"junk\.h5: cannot read as a pandas HDF5 table"):
        import_project(tmp_path / "junk.h5", "dlc", tmp_path / "o")


def test_the_shared_two_fly_clip_imports_without_writing_frames(sample_data, tmp_path, capsys):
    """../shared/data/sleap-flies: 1500 labelled frames of a 307 KB video imported in seconds, the video
    linked and its frames named by the frame rule (the import used to write 407 MB of PNG); the
    split holds every 10th frame in frame order; every split passes `data check`; the tracks are read."""
    out = tmp_path / "flies"
    assert main(["data", "import", str(sample_data / "sleap-flies/clip.slp"), "--format", "sleap", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1500 images, 3000 instances (3000 with labels), 13 keypoints" in printed
    # two flies per frame: one crop per fly (its label box x1.25) at the median box's size, not the 1024-px frame shrunk to 256
    assert "one crop per instance (its label box ×1.25) at 160x128" in printed
    from semipose.config import load_config

    cfg = load_config(out / "config.yaml")
    assert cfg.data.input_size == [160, 128] and cfg.data.padding == 1.25
    assert sorted(p.name for p in (out / "images").iterdir()) == ["clip.mp4"]
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and not f.is_symlink()) < 5_000_000
    val = json.loads((out / "val.json").read_text())
    assert [im["file_name"] for im in val["images"]][:3] == ["clip.mp4#5", "clip.mp4#15", "clip.mp4#25"]
    tracks = {a["track"] for a in _doc(out)["annotations"]}
    assert len(tracks) == 2  # the two flies' identities, as SLEAP tracked them
    assert main(["data", "check", str(out / "config.yaml")]) == 0
    assert "all splits readable" in capsys.readouterr().out
    # and their instance finder's config: whole frames, boxes of the median label box around each anchor
    assert f"semipose train {out.resolve() / 'finder.yaml'}" in printed
    fcfg = load_config(out / "finder.yaml")
    assert fcfg.task == "finder" and fcfg.data.input_size == [256, 256] and fcfg.output_stride == 2
    assert fcfg.finder.crop is not None and 100 < fcfg.finder.crop[0] < 140 and 90 < fcfg.finder.crop[1] < 130
