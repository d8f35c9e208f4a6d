"""CPU threads: how many intra-op threads torch uses, chosen from the cores that are free.

torch's default is one OpenMP thread per core, each of which spin-waits at every barrier. On a
machine where another process holds a core, every parallel region then waits for the thread
that shares its core with that process, and a step becomes 4–7× slower instead of 2×
(measured in ``docs/results.md``, "Threads on a busy machine"). The governor here counts the
cores this process may use (affinity and the cgroup CPU quota), measures how much of them the
rest of the machine is using (``/proc/stat`` minus this process's own CPU time, so the
DataLoader workers count as others), and sets torch's thread count to the free cores: two
threads on a quiet 2-core machine, one as soon as something else keeps a core busy, two again
when it stops. With one thread no pool thread spins.

``num_threads`` (config key, ``--threads``) > 0 fixes the count and turns the governor off;
so does ``OMP_NUM_THREADS`` in the environment. 0 (the default) is the adaptive choice.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["usable_cores", "cgroup_cpu_limit", "CpuSample", "threads_for", "ThreadGovernor", "check_threads", "configure_threads", "ensure_threads",
           "tick"]

log = logging.getLogger("semipose")

#: seconds between two measurements of the machine's load (a read of two small /proc files)
INTERVAL_S = 2.0
#: seconds of the first measurement, taken when the governor starts
FIRST_WINDOW_S = 0.15
#: a core counts as taken by others when they use more than this fraction of it (hysteresis
#: against the other process's brief pauses and this process's own bookkeeping)
TAKEN_FRACTION = 0.4


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The cgroup CPU quota in cores (``cpu.max`` of cgroup v2 or ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` of v1), or None when there is none or it cannot be read."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            if quota == "max":
                return None
            return float(quota) / float(period)
        q, p = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if q.is_file() and p.is_file():
            quota_us = float(q.read_text().strip())
            return None if quota_us <= 0 else quota_us / float(p.read_text().strip())
    except (OSError, ValueError, IndexError):
        return None
    return None


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may really use: its CPU affinity, capped by the cgroup quota
    (rounded up: a quota of 1.5 cores lets two threads make progress), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        n = min(n, max(1, math.ceil(limit - 1e-6)))
    return max(1, n)


@dataclass(frozen=True)
class CpuSample:
    """CPU time counters at one moment, in seconds: busy time of the usable CPUs and this
    process's own CPU time (all its threads, not its children)."""

    wall: float
    busy: float
    own: float


def _read_sample(cpus: set[int] | None = None) -> CpuSample | None:
    """A :class:`CpuSample` from ``/proc/stat`` and ``/proc/self/stat`` (None off Linux)."""
    try:
        hz = os.sysconf("SC_CLK_TCK")
        busy = 0
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *vals = line.split()
                if cpus is not None and int(name[3:]) not in cpus:
                    continue
                v = [int(x) for x in vals[:8]]
                busy += sum(v) - v[3] - v[4]  # all but idle and iowait
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return CpuSample(time.monotonic(), busy / hz, own / hz)


def threads_for(cores: int, before: CpuSample, after: CpuSample) -> int:
    """The thread count for ``cores`` usable cores given two samples: the cores not taken by
    other processes (a core is taken when others use more than :data:`TAKEN_FRACTION` of it),
    at least 1."""
    wall = after.wall - before.wall
    if wall <= 0:
        return cores
    others = max(0.0, (after.busy - before.busy) - (after.own - before.own)) / wall
    taken = math.floor(others + (1.0 - TAKEN_FRACTION))
    return max(1, min(cores, cores - taken))


class ThreadGovernor:
    """Keeps torch's intra-op thread count at the free cores; :meth:`tick` is cheap to call
    every step (it measures at most once per ``interval`` seconds).

    Args:
        fixed: a thread count to keep (the governor then only sets it once), or 0 to adapt.
        interval: seconds between measurements.
        sample: the measurement function (tests pass a fake one).
        set_threads: the function that applies a count (default ``torch.set_num_threads``).
    """

    def __init__(
        self, fixed: int = 0, *, interval: float = INTERVAL_S, cores: int | None = None,
        sample: Callable[[], CpuSample | None] | None = None, set_threads: Callable[[int], None] | None = None,
    ) -> None:
        self.cores = cores if cores is not None else usable_cores()
        self.fixed = fixed
        self.source = "num_threads"
        self.interval = interval
        try:
            cpus: set[int] | None = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = None
        self._sample = sample or (lambda: _read_sample(cpus))
        self._set = set_threads or _torch_set_threads
        self.threads = 0
        self.changes = 0
        self._last: CpuSample | None = None
        if fixed > 0:
            self._apply(fixed)
            return
        first = self._sample()
        if first is None:  # no /proc: every usable core, as torch would, but never more
            self._apply(self.cores)
            return
        if self.cores > 1 and FIRST_WINDOW_S > 0:
            time.sleep(FIRST_WINDOW_S)
            self._last = self._sample()
            self._apply(threads_for(self.cores, first, self._last) if self._last else self.cores)
        else:
            self._last = first
            self._apply(self.cores)

    def describe(self) -> str:
        """The count and why, for a run's log: ``2 threads (the free cores of 2, re-measured every 2 s)``."""
        if self.fixed > 0:
            return f"{self.threads} thread(s) (fixed: {self.source})"
        if self.adaptive:
            return f"{self.threads} thread(s) (the free cores of {self.cores}, re-measured every {self.interval:g} s)"
        return f"{self.threads} thread(s) (the {self.cores} usable core(s))"

    @property
    def adaptive(self) -> bool:
        return self.fixed <= 0 and self._last is not None and self.cores > 1

    def _apply(self, n: int) -> None:
        if n != self.threads:
            if self.threads:
                self.changes += 1
                log.debug("threads: %d → %d (cores in use by other processes changed)", self.threads, n)
            self._set(n)
            self.threads = n

    def tick(self) -> int:
        """Re-measure when ``interval`` has passed and apply the new count; returns the count."""
        if not self.adaptive or self._last is None:
            return self.threads
        now = time.monotonic()
        if now - self._last.wall < self.interval:
            return self.threads
        cur = self._sample()
        if cur is not None:
            self._apply(threads_for(self.cores, self._last, cur))
            self._last = cur
        return self.threads


def _torch_set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


_GOVERNOR: ThreadGovernor | None = None


def check_threads(num_threads: object, where: str = "num_threads", cores: int | None = None) -> int:
    """The one rule for a thread count, wherever it is given (a config's ``num_threads``,
    ``--threads``, ``PoseEstimator(num_threads=)``): a whole number from 0 (the free cores,
    re-measured) to the cores this process may use (more threads than cores only wait on each
    other: 999 made one step 80× slower).

    Raises:
        ConfigError: one line naming ``where``, the value and the allowed range.
    """
    from .errors import ConfigError

    cores = usable_cores() if cores is None else cores
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or not 0 <= num_threads <= cores:
        raise ConfigError(f"{where}: {num_threads!r}: expected a whole number from 0 (the free cores, re-measured as the load changes) "
                          f"to {cores} (the cores this process may use)")
    return num_threads


def configure_threads(num_threads: int = 0, where: str = "num_threads") -> ThreadGovernor:
    """Set up the process's thread governor: ``num_threads`` > 0 fixes the count, 0 adapts to
    the free cores (fixed at torch's count when ``OMP_NUM_THREADS`` is set). Returns it; later
    :func:`tick` calls re-measure.

    Raises:
        ConfigError: ``num_threads`` breaks :func:`check_threads` (``where`` names it).
    """
    global _GOVERNOR
    check_threads(num_threads, where)
    source = where
    if num_threads <= 0 and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        num_threads, source = int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    _GOVERNOR = ThreadGovernor(num_threads)
    _GOVERNOR.source = source
    return _GOVERNOR


def ensure_threads(num_threads: int | None = None, where: str = "num_threads") -> ThreadGovernor:
    """For library entry points (``PoseEstimator``): set up the governor when asked for a
    count (``num_threads`` ≥ 0) or when none is set up yet; else keep the one there is."""
    if num_threads is not None or _GOVERNOR is None:
        return configure_threads(0 if num_threads is None else num_threads, where)
    return _GOVERNOR


def tick() -> int:
    """Re-measure the free cores when due (no-op before :func:`configure_threads`); the
    current thread count (0 when no governor is set up)."""
    return _GOVERNOR.tick() if _GOVERNOR is not None else 0
