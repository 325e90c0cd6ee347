"""A factor defined in a notebook cell reaches loky and Dask workers (a real kernel)."""

from __future__ import annotations

import pytest
from kernel_support import report, start_kernel

pytestmark = pytest.mark.slow

CELL = """
import json, numpy as np, technic_nb as tn

@tn.factor
def range_ratio(bars):
    high, low = bars["high"].iloc[-20:].max(), bars["low"].iloc[-20:].min()
    return float((high - low) / bars["close"].iloc[-1])

def direct(result, symbol):
    used = result.bars(symbol)
    high, low = used["high"].iloc[-20:].max(), used["low"].iloc[-20:].min()
    return float((high - low) / used["close"].iloc[-1])
"""

RUN = """
config = tn.ScanConfig(source="demo:40", cache_dir={cache!r}, factors=[range_ratio], **{options})
result = tn.scan(config)
checked = [abs(result.table.loc[s, "range_ratio"] - direct(result, s)) for s in result.table.index]
print(json.dumps({{"rows": len(result.table), "computed": result.stats["computed"],
                  "errors": len(result.errors), "worst": max(checked)}}))
"""

DASK = """
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                       dashboard_address=None, host="127.0.0.1")
client = Client(cluster)
"""


@pytest.fixture
def kernel(tmp_path):
    yield from start_kernel(tmp_path)


def test_a_notebook_factor_runs_on_loky_and_on_dask(kernel, tmp_path):
    _, client, recorder = kernel
    report_cell = "print(json.dumps({'ok': True}))"
    assert report(client, recorder, CELL + report_cell)["ok"]
    loky = report(
        client,
        recorder,
        RUN.format(cache=str(tmp_path / "loky"), options={"backend": "loky", "n_jobs": 2}),
    )
    assert loky == {"rows": 40, "computed": 40, "errors": 0, "worst": 0.0}
    report(client, recorder, DASK + report_cell, timeout=180)
    dask = report(
        client,
        recorder,
        RUN.format(cache=str(tmp_path / "dask"), options={"backend": "dask", "dask_client": None}),
        timeout=180,
    )
    assert dask == {"rows": 40, "computed": 40, "errors": 0, "worst": 0.0}
    report(client, recorder, "client.close(); cluster.close()\n" + report_cell)
