"""Worker processes never outlive the process that started them.

A parent process (a fresh interpreter) starts loky workers the way the engine
does, prints their process ids, and is killed with SIGKILL, which gives it no
chance to clean up.  The test then waits (``psutil.wait_procs`` with a timeout)
for every process the parent had started, workers and resource trackers alike.
A control run without the watch shows that the workers would otherwise live on
(loky keeps an idle worker for 300 s).  The same check with a real Jupyter
kernel running a scan is in ``tests/test_kernel.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

psutil = pytest.importorskip("psutil")

from technic_nb.engine.orphans import WatchedCall, exit_with_parent, init_worker, watched, watching  # noqa: E402

pytestmark = pytest.mark.slow

#: Seconds a worker may outlive its parent (the requirement is about 10 s).
GRACE = 10.0

PARENT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from joblib import Parallel, delayed
    from technic_nb.engine.orphans import watched, watching, worker_options

    def task(i, folder):
        # a rendezvous: each task waits until two workers have one, so both get tasks
        # (a worker waiting here cannot take the next task; the other one must)
        open(os.path.join(folder, str(os.getpid())), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        return os.getpid(), watching(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN

    mode = sys.argv[1]
    options = worker_options("loky") if mode == "initializer" else {}
    folder = os.path.join(os.getcwd(), "pids")
    os.makedirs(folder, exist_ok=True)
    tasks = (delayed(task)(i, folder) for i in range(8))
    if mode == "task":
        tasks = (watched(t) for t in tasks)
    results = Parallel(n_jobs=2, backend="loky", **options)(tasks)
    print(json.dumps(sorted(set(results))), flush=True)
    threading.Event().wait()  # until killed
    """
)


def _start_parent(tmp_path, mode: str) -> tuple[subprocess.Popen, list, list]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    line = proc.stdout.readline()
    assert line, "the parent process died before its workers answered"
    workers = json.loads(line)
    descendants = psutil.Process(proc.pid).children(recursive=True)
    return proc, workers, descendants


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()


@pytest.mark.parametrize("mode", ["initializer", "task"])
def test_workers_and_trackers_exit_when_the_parent_is_killed(tmp_path, mode):
    proc, workers, descendants = _start_parent(tmp_path, mode)
    try:
        assert len({pid for pid, _, _ in workers}) == 2
        assert all(watch and no_sigint for _, watch, no_sigint in workers)
        assert len(descendants) >= 3  # two workers and at least one resource tracker
    finally:
        _kill(proc)
    _, alive = psutil.wait_procs(descendants, timeout=GRACE)
    for process in alive:  # leave nothing behind, whatever happens
        process.kill()
    assert not alive, [p.info if hasattr(p, "info") else p.pid for p in alive]


def test_without_the_watch_the_workers_outlive_their_parent(tmp_path):
    proc, workers, descendants = _start_parent(tmp_path, "plain")
    assert not any(watch or no_sigint for _, watch, no_sigint in workers)
    _kill(proc)
    try:
        _, alive = psutil.wait_procs(descendants, timeout=2.0)
        assert {p.pid for p in alive} >= {pid for pid, _, _ in workers}  # orphans (loky: 300 s)
    finally:
        for process in descendants:
            if process.is_running():
                process.kill()


def test_the_watch_is_only_installed_in_a_loky_worker():
    assert exit_with_parent() is False and not watching()  # this process: no parent watch
    assert init_worker() is False
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # left alone here
    call = WatchedCall(abs)
    assert call.__name__ == "abs" and call(-3) == 3
    function, args, kwargs = watched((abs, (-2,), {}))
    assert isinstance(function, WatchedCall) and function(*args, **kwargs) == 2
