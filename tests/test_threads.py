"""The thread governor: usable cores from affinity and the cgroup quota, the thread count from
the CPU time other processes take, and the re-measurement as the load changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from semipose import threads
from semipose.threads import CpuSample, ThreadGovernor, cgroup_cpu_limit, threads_for, usable_cores


def _pair(others: float, own: float = 1.0, wall: float = 2.0) -> tuple[CpuSample, CpuSample]:
    """Two samples ``wall`` s apart in which this process used ``own`` cores and the rest ``others``."""
    return CpuSample(0.0, 100.0, 10.0), CpuSample(wall, 100.0 + (own + others) * wall, 10.0 + own * wall)


@pytest.mark.parametrize(
    "cores,others,expected",
    [
        (2, 0.0, 2),  # quiet: every core
        (2, 0.1, 2),  # background noise is not a taken core
        (2, 0.7, 1),  # one busy process sharing with our spinning threads gets ~2/3 of a core
        (2, 1.0, 1),
        (2, 1.5, 1),  # both taken: one thread, never zero
        (2, 2.0, 1),
        (8, 3.0, 5),
        (8, 2.5, 5),
        (1, 0.0, 1),
    ],
)
def test_threads_for_counts_the_cores_others_take(cores, others, expected):
    assert threads_for(cores, *_pair(others)) == expected


def test_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == pytest.approx(1.5)
    assert usable_cores(tmp_path) == min(len(os.sched_getaffinity(0)), 2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu/cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu/cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == pytest.approx(0.5)
    assert usable_cores(tmp_path) == 1
    (tmp_path / "cpu/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu/cpu.cfs_quota_us").write_text("garbage\n")
    assert cgroup_cpu_limit(tmp_path) is None


class _FakeMachine:
    """A /proc stand-in: ``others`` cores of load from other processes, one core of our own."""

    def __init__(self) -> None:
        self.t, self.busy, self.own, self.others = 0.0, 0.0, 0.0, 0.0

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.busy += (1.0 + self.others) * seconds
        self.own += seconds

    def sample(self) -> CpuSample:
        return CpuSample(self.t, self.busy, self.own)


def test_governor_follows_the_load(monkeypatch):
    m = _FakeMachine()
    applied: list[int] = []
    monkeypatch.setattr(threads, "FIRST_WINDOW_S", 0.0)
    monkeypatch.setattr(threads.time, "monotonic", lambda: m.t)
    gov = ThreadGovernor(0, interval=1.0, cores=2, sample=m.sample, set_threads=applied.append)
    assert gov.threads == 2 and gov.adaptive
    m.advance(0.5)
    assert gov.tick() == 2  # not yet due
    m.others = 1.0  # another process starts
    m.advance(1.0)
    assert gov.tick() == 1
    m.advance(0.8)
    m.others = 0.0  # it stops; the next measurement brings the second thread back
    m.advance(0.5)
    assert gov.tick() == 1  # the window still held most of the load
    m.advance(1.0)
    assert gov.tick() == 2
    assert applied == [2, 1, 2] and gov.changes == 2


def test_fixed_count_and_environment(monkeypatch):
    applied: list[int] = []
    gov = ThreadGovernor(3, cores=2, sample=lambda: None, set_threads=applied.append)
    assert not gov.adaptive and gov.tick() == 3 and applied == [3]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.configure_threads(0).fixed == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.configure_threads(0).fixed == 0


def test_no_proc_uses_every_usable_core():
    applied: list[int] = []
    gov = ThreadGovernor(0, cores=2, sample=lambda: None, set_threads=applied.append)
    assert applied == [2] and not gov.adaptive


@pytest.mark.skipif(not os.path.exists("/proc/stat") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux /proc and 2 cores")
def test_real_measurement_sees_a_busy_process():
    """On this machine: a busy loop in another process is seen as (most of) a core taken."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        before = threads._read_sample(set(os.sched_getaffinity(0)))
        time.sleep(1.0)
        after = threads._read_sample(set(os.sched_getaffinity(0)))
    finally:
        busy.kill()
        busy.wait()
    assert before is not None and after is not None
    others = (after.busy - before.busy) - (after.own - before.own)
    assert others / (after.wall - before.wall) > 0.6
    assert threads_for(len(os.sched_getaffinity(0)), before, after) <= len(os.sched_getaffinity(0)) - 1


def test_one_rule_for_a_thread_count_everywhere(tmp_path, capsys, sample_data):
    """num_threads=999, --threads 99, --threads -1, num_threads=-2 in the API and -3 in a config:
    one rule, one message, naming where the count was given."""
    from conftest import make_model_file
    from semipose.cli import main
    from semipose.errors import ConfigError
    from semipose.predict import PoseEstimator

    cores = threads.usable_cores()
    with pytest.raises(ConfigError, match=rf"num_threads: 999: expected a whole number from 0 .* to {cores} "):
        threads.configure_threads(999)
    model = make_model_file(tmp_path / "m.pt", input_size=(64, 64))
    with pytest.raises(ConfigError, match=r"num_threads: -2: expected a whole number from 0"):
        PoseEstimator.from_file(model, num_threads=-2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("num_threads: -3\n")
    image = str(sorted((sample_data / "coco/images").glob("*.jpg"))[0])
    for argv, where in (([ "train", str(cfg)], "num_threads: -3"), (["predict", str(model), image, "--threads", "99"], "--threads: 99"),
                        (["predict", str(model), image, "--threads", "-1"], "--threads: -1"),
                        (["bench", "network", "--threads", "99"], "--threads: 99")):
        assert main(argv) == 2
        assert f"{where}: expected a whole number from 0" in capsys.readouterr().err
    assert threads.configure_threads(1).describe() == "1 thread(s) (fixed: num_threads)"
