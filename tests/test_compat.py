"""What technic_nb relies on in joblib's, tqdm's and ipykernel's internals still holds.

:mod:`technic_nb.compat.joblib_internals`, :mod:`technic_nb.compat.tqdm_internals`
and :mod:`technic_nb.compat.ui_poll` (jupyter-ui-poll, which drives ipykernel) are
the only places that reach past those libraries' documented API.  These
tests fail, loudly and by name, when a release changes what they rely on, rather
than letting a scan or a panel silently misbehave.
"""

from __future__ import annotations

import inspect
import io

import ipywidgets as widgets
import joblib
import pytest
import tqdm
from joblib import Memory
from tqdm.notebook import tqdm as notebook_tqdm

from technic_nb.compat import joblib_internals as jc
from technic_nb.compat import tqdm_internals as tc
from technic_nb.engine.cache.checkpoints import CheckpointCache
from technic_nb.engine.cache.envelope import seal


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# -- joblib: the checkpoint store --------------------------------------------------------


def test_the_lean_store_overrides_what_joblibs_file_store_still_defines():
    from joblib._store_backends import FileSystemStoreBackend

    assert issubclass(jc.LeanFileStore, FileSystemStoreBackend)
    for name in ("dump_item", "store_metadata", "get_metadata"):
        base = getattr(FileSystemStoreBackend, name, None)
        assert base is not None, f"joblib's FileSystemStoreBackend has no {name}()"
        assert _parameters(getattr(jc.LeanFileStore, name))[:3] == _parameters(base)[:3], name


def test_memory_builds_the_lean_store_by_its_registered_name(tmp_path):
    memory = Memory(str(tmp_path), backend=jc.STORE_BACKEND, verbose=0)
    store = memory.store_backend
    assert isinstance(store, jc.LeanFileStore)
    # the attributes the store reads, as joblib's configure() sets them
    assert store.location == str(tmp_path / "joblib") and hasattr(store, "compress")


def test_entries_of_the_lean_store_are_read_by_a_plain_memory(tmp_path):
    key = ("memory:x|AAA|2024-01-01..2024-12-31|1d", "rsi=14", 300, "1")
    cache = CheckpointCache.at(tmp_path)
    cache.features.get(key, lambda: ("features", {"close": 1.0}), tuple, print)
    assert list(tmp_path.rglob("metadata.json")) == []  # the store writes none
    plain = CheckpointCache(Memory(str(tmp_path), verbose=0))
    assert plain.features.peek(key, tuple, print) == ("features", {"close": 1.0})


def test_a_failed_write_raises_and_leaves_nothing(tmp_path, monkeypatch):
    store = Memory(str(tmp_path), backend=jc.STORE_BACKEND, verbose=0).store_backend

    def refuse(value, file, **kwargs):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jc.joblib, "dump", refuse)
    with pytest.raises(OSError):
        store.dump_item(["f", "abc"], seal(1))
    assert [p for p in (tmp_path / "joblib").rglob("*") if p.is_file()] == []


# -- joblib: the Dask backend --------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as client:
        yield client


def test_joblibs_dask_backend_keeps_the_tables_the_cancel_reads(client):
    from joblib._dask import DaskDistributedBackend

    backend_class = jc.cancelling_dask_backend()
    assert issubclass(backend_class, DaskDistributedBackend)
    for name in ("start_call", "effective_n_jobs", "submit", "abort_everything"):
        assert callable(getattr(DaskDistributedBackend, name, None)), name
    backend = backend_class(client=client)
    assert isinstance(backend._results, dict) and isinstance(backend._callbacks, dict)
    assert hasattr(backend.waiting_futures, "condition")
    assert backend.cancel_submitted(timeout=5) == 0  # nothing submitted: nothing taken


# -- tqdm ------------------------------------------------------------------------------


def test_tqdm_notebook_bar_is_an_hbox_of_html_progress_and_html():
    bar = notebook_tqdm(total=10, desc="x", display=False)
    left, progress, _ = tc.notebook_bar_parts(bar)
    assert isinstance(progress, widgets.FloatProgress) and progress.max == 10
    bar.n = 4
    bar.refresh()
    assert progress.value == 4 and left.value.startswith("x")
    tc.set_notebook_total(bar, 25)
    assert (bar.total, progress.max) == (25, 25)
    bar.close()
    assert tc.bar_view(bar).bar_style == "danger"  # tqdm's close: stopped short


def test_an_unknown_container_layout_is_a_loud_error():
    class Changed:
        container = widgets.HBox([widgets.HTML(), widgets.HTML()])

    with pytest.raises(TypeError, match="not supported by technic_nb's panel"):
        tc.notebook_bar_parts(Changed())


def test_a_tqdm_bar_has_the_clock_the_console_bars_set():
    bar = tqdm.tqdm(total=10, file=io.StringIO(), mininterval=0)
    try:
        for name in ("_time", "start_t", "last_print_t"):
            assert hasattr(bar, name), f"tqdm bars have no {name}"
        tc.set_elapsed(bar, 125.0)
        assert 125.0 <= bar.format_dict["elapsed"] < 126.0
        tc.mark_printed(bar)
        assert bar.last_print_t >= bar.start_t
    finally:
        bar.close()


def test_the_declared_versions_are_the_ones_tested():
    """pyproject.toml bounds joblib and tqdm to releases these tests cover, and the ones
    installed here are inside the bounds."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())[
        "project"
    ]
    requirements = {Requirement(spec).name: Requirement(spec) for spec in project["dependencies"]}
    for name, module in (("joblib", joblib), ("tqdm", tqdm)):
        specifier = requirements[name].specifier
        assert any(s.operator == "<" for s in specifier), f"{name} has no upper bound"
        assert specifier.contains(module.__version__), (name, module.__version__, specifier)


# -- jupyter-ui-poll: widget messages while a cell waits ------------------------------


def test_the_installed_kernel_has_what_jupyter_ui_poll_drives():
    """jupyter-ui-poll handles each message with ``Kernel.do_one_iteration()`` and replays
    held cells with these methods; without them the Cancel button is dead during a wait."""
    from importlib.metadata import version

    from ipykernel.kernelbase import Kernel
    from packaging.specifiers import SpecifierSet

    from technic_nb.compat.ui_poll import SUPPORTED_IPYKERNEL

    installed = version("ipykernel")
    assert installed in SpecifierSet(SUPPORTED_IPYKERNEL), (
        f"ipykernel {installed} is outside the tested range {SUPPORTED_IPYKERNEL}"
    )
    for name in ("do_one_iteration", "execute_request", "set_parent", "get_parent"):
        assert callable(getattr(Kernel, name, None)), f"ipykernel's Kernel has no {name}()"
    assert inspect.iscoroutinefunction(Kernel.do_one_iteration)
    # the queue do_one_iteration() takes from is fed only without a shell channel thread
    assert "shell_channel_thread" not in Kernel.class_traits(), (
        "this ipykernel delivers shell messages through a shell channel thread"
    )


def test_outside_a_kernel_a_wait_does_not_poll():
    from technic_nb.compat.ui_poll import ui_events, why_not_polled

    assert why_not_polled() == "not running in a Jupyter kernel"
    with ui_events() as poll:
        assert poll is None
