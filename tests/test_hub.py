"""Model sources through the real download code, against a loopback HTTP server the test starts
(127.0.0.1 only, bounded in time): download, cache and reuse with the server gone; hash
mismatch, a cut-short body, 404, a refused connection and an HTML page are one line and
leave nothing cached; two processes asking at once make one download; hf:// paths through a
hub cache laid out by the test."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from semipose import hub
from semipose.errors import DownloadError, MissingFileError

PAYLOAD = b"\x80\x02semipose test checkpoint bytes" * 5000


class _Server:
    """A loopback server: ``files`` by path; ``truncate`` paths send half their bytes after a
    full Content-Length; ``html`` paths send a login page; every GET is counted."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.html: set[str] = set()
        self.gets: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.gets.append(self.path)
                if self.path in outer.html:
                    body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if self.path in outer.truncate else data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 5
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMIPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "TIMEOUT_S", 5.0)
    return tmp_path / "cache"


def _named(data: bytes, stem: str = "weights") -> str:
    return f"/{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def test_download_cache_and_reuse_without_the_server(server, cache):
    path = _named(PAYLOAD)
    server.files[path] = PAYLOAD
    got = hub.resolve_source(server.url + path, progress=False)
    assert got == cache / path[1:] and got.read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir()) == [path[1:]]  # no .part or .lock left
    server.stop()
    assert hub.resolve_source(server.url + path, progress=False) == got  # from the cache, no network
    assert server.gets == [path]
    server.thread = threading.Thread()  # stopped already
    server.stop = lambda: None  # type: ignore[method-assign]


def test_cache_follows_torch_hub(monkeypatch, tmp_path):
    monkeypatch.delenv("SEMIPOSE_CACHE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub.cache_dir() == tmp_path / "th/hub/checkpoints"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == tmp_path / "xdg/torch/hub/checkpoints"


@pytest.mark.parametrize("case", ["hash", "truncated", "404", "html", "refused"])
def test_failures_are_one_line_and_cache_nothing(server, cache, case):
    path = _named(PAYLOAD)
    if case == "hash":
        server.files[path] = PAYLOAD + b"tampered"
    elif case == "truncated":
        server.files[path] = PAYLOAD
        server.truncate.add(path)
    elif case == "html":
        server.html.add(path)
    url = server.url + path
    if case == "refused":
        server.stop()
    messages = {
        "hash": "does not match the expected", "truncated": "nothing was cached", "404": "HTTP 404",
        "html": "the server sent an HTML page, not a checkpoint", "refused": "cannot reach the server",
    }
    with pytest.raises(DownloadError) as e:
        hub.resolve_source(url, progress=False)
    msg = str(e.value)
    assert msg.startswith(url) and messages[case] in msg and f"put the file there by hand: {cache / path[1:]}" in msg, msg
    assert "\n" not in msg
    assert not cache.exists() or list(cache.iterdir()) == []
    if case == "refused":
        server.stop = lambda: None  # type: ignore[method-assign]


def test_known_names_and_local_paths(server, cache, monkeypatch, tmp_path):
    assert set(hub.IMAGENET_BACKBONES) == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "hrnet_w32", "hrnet_w48"}
    for m in hub.KNOWN_MODELS.values():  # every name states its source; backbones carry their torch.hub hash prefix
        assert m.source and (hub._expected_hash(m.url, m.sha256, m.name_hash) or not m.name_hash)
        assert m.name_hash == m.name.startswith("imagenet-")
    data = b"backbone" * 1000
    path = _named(data, "resnet18")
    server.files[path] = data
    monkeypatch.setitem(hub.KNOWN_MODELS, "imagenet-resnet18", hub.KnownModel("imagenet-resnet18", server.url + path, "test", "test"))
    assert hub.resolve_source("imagenet-resnet18", progress=False).read_bytes() == data
    (tmp_path / "local.pth").write_bytes(b"x")
    assert hub.resolve_source(tmp_path / "local.pth") == tmp_path / "local.pth"
    with pytest.raises(MissingFileError, match="imagenet-resnet5: checkpoint not found \\(a known name\\? `semipose models` lists them"):
        hub.resolve_source("imagenet-resnet5")


def test_two_processes_make_one_download(server, cache, tmp_path):
    data = os.urandom(3 << 20)  # big enough that the two processes overlap
    path = _named(data)
    server.files[path] = data
    code = (
        "import sys; from semipose import hub; "
        f"p = hub.resolve_source({server.url + path!r}, progress=False); print(p.stat().st_size)"
    )
    env = {**os.environ, "SEMIPOSE_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE, text=True)
             for r in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == [str(len(data))] * 2 and all(p.returncode == 0 for p in procs)
    assert server.gets == [path]  # one download for both
    assert (cache / path[1:]).read_bytes() == data


def _hub_cache(root: Path, repo: str, commit: str, files: dict[str, bytes]) -> None:
    """huggingface_hub's cache layout: models--OWNER--REPO/{refs/main, snapshots/COMMIT/PATH}."""
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs/main").write_text(commit)
    for name, data in files.items():
        f = base / "snapshots" / commit / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)


def test_hf_paths_through_the_hub_cache(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    code = (
        "from semipose import hub; import sys\n"
        "print(hub.resolve_source(sys.argv[1]).read_bytes().decode())\n"
    )
    _hub_cache(tmp_path / "hf", "HoyerChou/MultiAugs", "a" * 40, {"coco/res50.pth": b"ma-weights"})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"),  # read when huggingface_hub is imported
           "HF_HOME": str(tmp_path / "hf-home")}
    ok = subprocess.run([sys.executable, "-c", code, "hf://HoyerChou/MultiAugs/coco/res50.pth"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "ma-weights", ok.stderr
    bad = subprocess.run([sys.executable, "-m", "semipose.cli", "predict", "hf://HoyerChou/MultiAugs/coco/missing.pth", "0"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "hf://HoyerChou/MultiAugs/coco/missing.pth:" in bad.stderr and "HF_HUB_OFFLINE=1" in bad.stderr
    assert "Traceback" not in bad.stderr
    with pytest.raises(DownloadError, match="a hub path is hf://OWNER/REPO/PATH"):
        hub.resolve_source("hf://owner/repo")


def test_every_model_option_takes_a_url(server, cache, model_file, sample_data, tmp_path, capsys, monkeypatch):
    """predict, eval --checkpoint, export, PoseEstimator.from_file, model.init_weights and
    model.pretrained all take a URL; `semipose models fetch` fills the cache; after that the
    server is not needed."""
    from semipose.cli import main
    from semipose.models import build_pose_model
    from semipose.predict import PoseEstimator

    data = model_file.read_bytes()
    path = _named(data, "res18-coco")
    server.files[path] = data
    net = build_pose_model("resnet18", 17)
    backbone = {k: v for k, v in net.state_dict().items() if not k.startswith(("deconv_layers", "final_layer"))}
    backbone["fc.weight"], backbone["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(backbone, tmp_path / "bb.pth")
    bb = _named((tmp_path / "bb.pth").read_bytes(), "resnet18")
    server.files[bb] = (tmp_path / "bb.pth").read_bytes()
    url = server.url + path

    assert main(["models", "fetch", url, "--no-progress"]) == 0
    assert f"{url}: {cache / path[1:]}" in capsys.readouterr().out
    monkeypatch.setitem(hub.KNOWN_MODELS, "imagenet-resnet18", hub.KnownModel("imagenet-resnet18", server.url + bb, "test backbone", "test"))
    image = sorted((sample_data / "coco/images").glob("*.jpg"))[0]
    assert main(["predict", url, str(image), "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    assert PoseEstimator.from_file(url).card.arch == "resnet18"
    coco = sample_data / "coco"
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--checkpoint", url, f"data.val.ann_file={coco / 'person_keypoints_sample.json'}",
                 f"data.val.image_dir={coco / 'images'}", "--no-progress"]) == 0
    assert main(["export", url, "--format", "pt"]) == 0
    assert (tmp_path / f"{Path(path).stem}-model.pt").is_file()  # beside the shell, not in the cache
    out = capsys.readouterr().out
    assert "results and metrics written to eval-res18-coco" in out
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: u\noutput_dir: {tmp_path / 'runs'}\n"
        f"data: {{train: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, "
        f"val: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, input_size: [64, 64], workers: 0}}\n"
        "model: {arch: resnet18, deconv_filters: [32, 32, 32]}\ntrain: {epochs: 1, batch_size: 4, max_iters_per_epoch: 1}\n"
    )
    assert main(["train", str(cfg), f"model.init_weights={url}", "--no-progress", "--run-dir", str(tmp_path / "r1")]) == 0
    assert main(["train", str(cfg), "model.pretrained=imagenet", "--no-progress", "--run-dir", str(tmp_path / "r2")]) == 0
    log = (tmp_path / "r2/train.log").read_text()
    assert f"ImageNet backbone from {cache / bb[1:]}" in log
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert f"cache: {cache}" in listing and "imagenet-resnet18" in listing and "cached" in listing
    server.stop()
    assert main(["predict", url, str(image), "--out", str(tmp_path / "p2"), "--no-progress"]) == 0  # offline: from the cache
    server.stop = lambda: None  # type: ignore[method-assign]


def test_models_remote_lists_a_hub_repository(server, tmp_path):
    """`semipose models --remote` through HF_ENDPOINT pointed at the loopback server: the
    checkpoint files of the repository, other files left out; a missing repository is one line."""
    pytest.importorskip("huggingface_hub")
    import json

    tree = [{"type": "file", "path": p, "oid": "0" * 40, "size": 3} for p in ("coco/res50.pth", "mpii/hrnet.pth", "README.md")]
    server.files["/api/models/HoyerChou/MultiAugs/tree/main?recursive=true&expand=false"] = json.dumps(tree).encode()
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf")}  # read when huggingface_hub is imported
    env.pop("HF_HUB_OFFLINE", None)
    ok = subprocess.run([sys.executable, "-m", "semipose.cli", "models", "--remote", "hf://HoyerChou/MultiAugs"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["2 checkpoint file(s) in hf://HoyerChou/MultiAugs:", "  hf://HoyerChou/MultiAugs/coco/res50.pth",
                                      "  hf://HoyerChou/MultiAugs/mpii/hrnet.pth"]
    bad = subprocess.run([sys.executable, "-m", "semipose.cli", "models", "--remote", "hf://nobody/nothing"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "hf://nobody/nothing: cannot list the repository" in bad.stderr and "Traceback" not in bad.stderr


def test_the_cache_is_keyed_by_source_not_by_file_name(server, cache):
    """`…/good/model_a.pt` then `…/v2/model_a.pt` (another model, no hash in the name): two files,
    two requests; the second never gets the first's bytes."""
    other = PAYLOAD[::-1]
    server.files["/good/model_a.pt"], server.files["/v2/model_a.pt"] = PAYLOAD, other
    a = hub.resolve_source(server.url + "/good/model_a.pt", progress=False)
    b = hub.resolve_source(server.url + "/v2/model_a.pt", progress=False)
    assert a != b and a.name == b.name == "model_a.pt"
    assert a.read_bytes() == PAYLOAD and b.read_bytes() == other
    assert server.gets == ["/good/model_a.pt", "/v2/model_a.pt"]
    assert hub.resolve_source(server.url + "/v2/model_a.pt", progress=False) == b and len(server.gets) == 2  # cached per source
    # a file whose contents its name pins (torch.hub's hash prefix) stays where torch.hub puts it
    pinned = _named(PAYLOAD)
    assert hub.cached_path(server.url + pinned) == cache / pinned[1:]


def test_no_progress_hides_the_download_bar(server, cache, model_file, sample_data, tmp_path, monkeypatch):
    """`--no-progress` reaches the download a command makes on its way (here predict's model)."""
    from semipose.cli import main

    data = model_file.read_bytes()
    path = _named(data, "res18-bar")
    server.files[path] = data
    shown: list[bool] = []
    real = hub._bar
    monkeypatch.setattr(hub, "_bar", lambda total, name, progress: shown.append(progress) or real(total, name, progress))
    image = sorted((sample_data / "coco/images").glob("*.jpg"))[0]
    assert main(["predict", server.url + path, str(image), "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    assert shown == [False] and hub.download_progress()  # hidden for that command only
