"""Run the benchmark suite: ``python -m bench [--quick] [--out DIR]`` or ``python bench/run.py``.

The full run (default) takes about 40 minutes on 2 busy cores and writes
``bench/RESULTS.md`` and ``bench/results.json``.  ``--quick`` uses tiny sizes
(a minute or two, for CI) and must be given ``--out`` or writes to
``bench/quick/`` so that it never replaces the full figures.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cases, report
from bench.common import FULL, QUICK, Bench, log, make_scratch, section, sizes_dict
from bench.http_server import ServerProcess

BENCH_DIR = Path(__file__).resolve().parent
ORDER = cases.ORDER


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for RESULTS.md and results.json (default bench/, or bench/quick/ "
        "with --quick)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite RESULTS.md from the results.json in --out (and bench/ANALYSIS.md)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated sections to run (default: all): " + ", ".join(ORDER),
    )
    return parser.parse_args(argv)


def _start_server(bench: Bench) -> ServerProcess:
    s = bench.sizes
    log("starting the HTTP server process (encodes every answer first)")
    n = max(s.http_symbols, s.fetch_only_symbols, s.ckpt_http20_symbols, s.overhead_http_symbols)
    return ServerProcess(n, s.years, s.latency, [bench.window_dates()]).__enter__()


def _failed(key: str, exc: BaseException) -> dict[str, Any]:
    out = section(f"{key} (failed)")
    out["error"] = f"{type(exc).__name__}: {exc}"
    out["notes"].append(f"The section failed: {type(exc).__name__}: {exc}")
    log(f"section {key} FAILED:\n{traceback.format_exc()}")
    return out


def run_sections(bench: Bench, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Every wanted section, in order; a failing section is recorded and the run goes on."""
    sections: dict[str, dict[str, Any]] = {}
    if wanted & cases.NEEDS_SERVER:
        bench.server = _start_server(bench)
    try:
        if wanted & {"cold_throughput", "resume"}:
            log("section cold_throughput + resume")
            started = time.perf_counter()
            try:
                cold, resume = cases.COLD_AND_RESUME(bench)
                sections["cold_throughput"], sections["resume"] = cold, resume
            except Exception as exc:
                sections["cold_throughput"] = _failed("cold_throughput", exc)
                sections["resume"] = _failed("resume", exc)
            for key in ("cold_throughput", "resume"):
                sections[key]["seconds"] = time.perf_counter() - started
        for key in ORDER:
            if key not in wanted or key not in cases.SECTIONS:
                continue
            log(f"section {key}")
            started = time.perf_counter()
            try:
                sections[key] = cases.SECTIONS[key](bench)
            except Exception as exc:
                sections[key] = _failed(key, exc)
            sections[key]["seconds"] = time.perf_counter() - started
            log(f"section {key} done in {sections[key]['seconds']:.0f} s")
    finally:
        if bench.server is not None:
            bench.server.__exit__(None, None, None)
            bench.server = None
    return {k: sections[k] for k in ORDER if k in sections and k in wanted}


def _merge(out_dir: Path, meta: dict[str, Any], sections: dict[str, Any]) -> tuple[dict, dict]:
    """A partial re-run (``--only``) replaces only its sections in the previous results."""
    previous = out_dir / "results.json"
    if not previous.is_file():
        return meta, sections
    results = json.loads(previous.read_text())
    if results["meta"]["mode"] != meta["mode"]:
        return meta, sections
    merged = dict(results["sections"])
    merged.update(sections)
    reruns = [
        *results["meta"].get("reruns", []),
        {"command": meta["command"], "started": meta["started"]},
    ]
    return {**results["meta"], "reruns": reruns}, merged


def _render(out_dir: Path) -> int:
    results = json.loads((out_dir / "results.json").read_text())
    analysis = BENCH_DIR / "ANALYSIS.md"
    if analysis.is_file() and results["meta"]["mode"] == "full":
        results["analysis"] = [analysis.read_text()]
    report.write(out_dir, results)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the suite (or re-render); 0 when every section ran."""
    args = parse_args(argv)
    out_dir = args.out or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)
    wanted = set(ORDER if not args.only else args.only.split(","))
    unknown = wanted - set(ORDER)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.render:
        return _render(out_dir)
    sizes = QUICK if args.quick else FULL
    words = sys.argv[1:] if argv is None else argv
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "command": ("python -m bench " + " ".join(shlex.quote(a) for a in words)).strip(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": report.machine(),
        "sizes": sizes_dict(sizes),
    }
    started = time.perf_counter()
    scratch = make_scratch()
    bench = Bench(sizes, scratch, quick=args.quick)
    try:
        log(f"{meta['mode']} run, scratch folder {scratch}")
        bench.warm_pools()
        sections = run_sections(bench, wanted)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started
    meta["seconds"] = elapsed
    meta["load_average_end"] = report.machine()["load_average_1_5_15"]
    if args.only:
        meta, sections = _merge(out_dir, meta, sections)
    results: dict[str, Any] = {
        "meta": meta,
        "sections": {k: sections[k] for k in ORDER if k in sections},
    }
    analysis = BENCH_DIR / "ANALYSIS.md"
    if analysis.is_file() and not args.quick:
        results["analysis"] = [analysis.read_text()]
    json_path, md_path = report.write(out_dir, results)
    log(f"wrote {md_path} and {json_path} in {elapsed:.0f} s")
    failed = [k for k, v in results["sections"].items() if "error" in v]
    if failed:
        log(f"failed sections: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
