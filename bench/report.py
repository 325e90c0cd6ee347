"""``results.json`` (machine-readable) and ``RESULTS.md`` (the human table)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

LIBRARIES = (
    "technic_nb",
    "pandas",
    "numpy",
    "joblib",
    "ta-lib",
    "urllib3",
    "psutil",
    "tqdm",
    "dask",
    "distributed",
)


def machine() -> dict[str, Any]:
    """Cores, memory, OS, Python and library versions, load at the time of the call."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": sys.version.split()[0],
        "libraries": versions,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def _number(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.3f}"
    return f"{value:.2g}"


def _met(figure: dict[str, Any]) -> str:
    met = figure.get("met")
    if "target" not in figure:
        return ""
    if met is None:
        return "-"
    return "met" if met else "**missed**"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write(out_dir: Path, results: dict[str, Any]) -> tuple[Path, Path]:
    """Write both files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    md_path = out_dir / "RESULTS.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Mode: **{meta['mode']}**, run {meta['started']} ({meta['seconds']:.0f} s in total).",
        "",
        "```bash",
        meta["command"],
        "```",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| cores | {m['logical_cores']} logical ({m['physical_cores']} physical) |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| platform | {m['platform']} ({m['processor']}) |",
        f"| Python | {m['python']} |",
        "| libraries | " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()) + " |",
        f"| load average at start (1/5/15 min) | {m['load_average_1_5_15']} |",
        f"| load average at end | {meta.get('load_average_end')} |",
        *(
            f"| section re-run (its last run is shown) | `{r['command']}` at {r['started']} |"
            for r in meta.get("reruns", [])
        ),
        "",
        *(
            [
                "**Quick mode**: tiny sizes for a smoke test (CI).  The figures only show "
                "that every section runs; fixed costs dominate at these sizes, so the "
                "targets are not meaningful here.  The full run (`python -m bench`) "
                "measures them.",
                "",
            ]
            if meta["mode"] == "quick"
            else []
        ),
        "The machine is shared and noisy: every figure is a set of repeats "
        "(min / median / max, n = repeats), and every comparison is a ratio of runs "
        "interleaved A B A B in the same process, so slow phases of the machine hit both "
        "sides.  Absolute times are shown for scale only.",
        "",
    ]
    summary = [
        (name, fig)
        for section in results["sections"].values()
        for name, fig in section["figures"].items()
        if "target" in fig and fig.get("met") is not None
    ]
    if summary:
        lines += [
            "## Targets",
            "",
            "The progress, console, token and retry overheads (`overhead` section) are "
            "judged on their cost measured directly (per event) times the events of a scan "
            "(column 'judged on'), the end-to-end median shown beside it; the checkpoint "
            "overheads (`checkpoint_overhead`) are judged on the end-to-end median of "
            "interleaved rounds, to be read against the A/A noise of the same rounds.",
            "",
            "| figure | median (min - max) | judged on | target | result |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, fig in summary:
            if "estimated_pct" in fig:
                judged = f"estimate {_number(fig['estimated_pct'])} %"
            elif "p95" in fig:
                judged = f"p95 {_number(fig['p95'])} {fig['unit']}"
            else:
                judged = "median"
            lines.append(
                f"| {name} | {_number(fig['median'])} ({_number(fig['min'])} - "
                f"{_number(fig['max'])}) {fig['unit']} | {judged} | {_cell(fig['target'])} "
                f"| {_met(fig)} |"
            )
        lines.append("")
    for key, section in results["sections"].items():
        took = f" ({section['seconds']:.0f} s)" if "seconds" in section else ""
        lines += [f"## {section['title']}", "", f"`{key}`{took}", ""]
        if not section["figures"]:
            status = "failed" if "error" in section else "skipped"
            lines += [f"No figure: {status}.", ""]
            for note in section["notes"]:
                lines += [f"> {_cell(note)}", ""]
            continue
        lines += [
            "| figure | unit | min | median | max | n | target | result |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        bounds = []
        for name, fig in section["figures"].items():
            lines.append(
                f"| {name} | {_cell(fig['unit'])} | {_number(fig['min'])} "
                f"| {_number(fig['median'])} | {_number(fig['max'])} | {fig['n']} "
                f"| {_cell(fig.get('target', ''))} | {_met(fig)} |"
            )
            extras = {
                k: v
                for k, v in fig.items()
                if k
                not in ("unit", "min", "median", "max", "n", "values", "target", "met", "bound")
            }
            detail = []
            if extras:
                detail.append(
                    ", ".join(
                        f"{k} = "
                        + (
                            "[" + ", ".join(_number(x) for x in v) + "]"
                            if isinstance(v, list)
                            else _number(v)
                        )
                        for k, v in extras.items()
                    )
                )
            if fig.get("bound"):
                detail.append(f"bound: {fig['bound']}")
            if detail:
                bounds.append(f"* `{name}`: " + "; ".join(detail))
        lines.append("")
        if bounds:
            lines += ["What bounds each figure, and extra values:", "", *bounds, ""]
        for note in section["notes"]:
            lines += [f"> {note}", ""]
    for note in results.get("analysis", []):
        lines.append(note)
    lines.append("")
    return "\n".join(lines)
