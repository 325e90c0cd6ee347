"""A real Jupyter kernel for tests: start it, run code in it, read what it printed.

A kernel of this interpreter is started through a temporary kernelspec (no
installed kernelspec is needed); :func:`execute` runs a cell and collects its
output once the kernel is idle again.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

KERNEL_NAME = "technic-nb-test"


class IopubRecorder:
    """Reads every iopub message in a thread and keeps them, time-stamped."""

    def __init__(self, client) -> None:
        self._client = client
        self._messages: list[tuple[float, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._client.get_iopub_msg(timeout=0.1)
            except Exception:  # queue.Empty, or the channel closing
                continue
            with self._cond:
                self._messages.append((time.monotonic(), msg))
                self._cond.notify_all()

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        with self._cond:
            return list(self._messages)

    def wait_for(self, predicate, timeout: float, start: int = 0) -> tuple[float, dict[str, Any]]:
        """The first message (from index ``start``) satisfying ``predicate``."""
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self._messages):
                    stamp, msg = self._messages[index]
                    index += 1
                    if predicate(msg):
                        return stamp, msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching iopub message")
                self._cond.wait(left)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def execute(client, recorder: IopubRecorder, code: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``code``; return its stdout, stderr, results and reply once the kernel is idle."""
    start = len(recorder.messages())
    msg_id = client.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    recorder.wait_for(
        lambda m: (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
        ),
        timeout=max(1.0, deadline - time.monotonic()),
        start=start,
    )
    out = {"reply": reply["content"], "stdout": "", "stderr": "", "results": [], "errors": []}
    for _, msg in recorder.messages()[start:]:
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out[content["name"]] += content["text"]
        elif kind in ("execute_result", "display_data"):
            out["results"].append(content["data"])
        elif kind == "error":
            out["errors"].append("\n".join(content["traceback"]))
    assert reply["content"]["status"] == "ok", out["errors"] or reply["content"]
    return out


def report(client, recorder: IopubRecorder, code: str, timeout: float = 120.0) -> dict:
    """Run ``code`` that prints one JSON object; return it."""
    out = execute(client, recorder, code, timeout)
    return json.loads(out["stdout"].strip().splitlines()[-1])


def start_kernel(tmp_path) -> Iterator[tuple[Any, Any, IopubRecorder]]:
    """A kernel of this interpreter through a temporary kernelspec; shut down afterwards.

    A generator for a pytest fixture: yields ``(manager, client, recorder)``.
    """
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    del jupyter_client
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "technic_nb tests",
        "language": "python",
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(tmp_path))
    client = manager.client()
    recorder = None
    try:
        client.start_channels()
        client.wait_for_ready(timeout=120)
        recorder = IopubRecorder(client)
        yield manager, client, recorder
    finally:
        if recorder is not None:
            recorder.close()
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def widget_models(recorder: IopubRecorder) -> dict[str, dict[str, Any]]:
    """comm id -> initial state of every widget model the kernel opened."""
    models = {}
    for _, msg in recorder.messages():
        if msg["msg_type"] == "comm_open" and msg["content"].get("target_name") == "jupyter.widget":
            models[msg["content"]["comm_id"]] = msg["content"]["data"]["state"]
    return models


def cancel_buttons(recorder: IopubRecorder) -> list[str]:
    """The comm ids of the panels' Cancel buttons, oldest first."""
    return [
        comm_id
        for comm_id, state in widget_models(recorder).items()
        if state.get("_model_name") == "ButtonModel" and "Cancel" in state.get("description", "")
    ]


def click(client, comm_id: str) -> float:
    """Click a button as the front end does (a ``comm_msg`` on the shell channel);
    return when it was sent (``time.monotonic()``)."""
    message = client.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}},
    )
    client.shell_channel.send(message)
    return time.monotonic()


def progressed(at_least: int):
    """A predicate: a panel update whose counters show ``at_least`` symbols done."""
    import re

    def check(msg: dict[str, Any]) -> bool:
        if msg["msg_type"] != "comm_msg":
            return False
        value = str(msg["content"].get("data", {}).get("state", {}).get("value", ""))
        found = re.search(r"<b>([\d,]+)</b> of [\d,]+ symbols? done", value)
        return found is not None and int(found.group(1).replace(",", "")) >= at_least

    return check


def reply_of(client, msg_id: str, timeout: float) -> dict[str, Any]:
    """The ``execute_reply`` to ``msg_id`` (other replies on the way are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def printed(recorder: IopubRecorder, msg_id: str) -> str:
    """Everything a request printed to stdout."""
    return "".join(
        m["content"]["text"]
        for _, m in recorder.messages()
        if m["msg_type"] == "stream"
        and m["content"]["name"] == "stdout"
        and m["parent_header"].get("msg_id") == msg_id
    )
