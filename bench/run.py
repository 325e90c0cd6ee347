"""Run the benchmark suite: ``python -m bench [--quick] [--out DIR]`` or ``python bench/run.py``.

The full run (default) takes 15-25 minutes on 2 busy cores and writes
``bench/RESULTS.md`` and ``bench/results.json``.  ``--quick`` uses tiny sizes
(about a minute, for CI) and must be given ``--out`` or writes to
``bench/quick/`` so that it never replaces the full figures.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cases, report

BENCH_DIR = Path(__file__).resolve().parent
ORDER = (
    "cold_throughput",
    "overhead",
    "resume",
    "cancel_latency",
    "scaling",
    "memory",
    "http_throughput",
    "dask",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)
    wanted = set(ORDER if not args.only else args.only.split(","))
    unknown = wanted - set(ORDER)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.render:
        results = json.loads((out_dir / "results.json").read_text())
        analysis = BENCH_DIR / "ANALYSIS.md"
        if analysis.is_file() and results["meta"]["mode"] == "full":
            results["analysis"] = [analysis.read_text()]
        report.write(out_dir, results)
        return 0
    sizes = cases.QUICK if args.quick else cases.FULL
    command = "python -m bench " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    started_wall = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    started = time.perf_counter()
    meta = {
        "mode": "quick" if args.quick else "full",
        "command": command.strip(),
        "started": started_wall,
        "machine": report.machine(),
        "sizes": sizes.__dict__,
    }
    scratch = cases.make_scratch()
    sections: dict[str, dict] = {}
    bench = cases.Bench(sizes, scratch)
    try:
        cases.log(f"{meta['mode']} run, scratch folder {scratch}")
        bench.warm_pools()
        needs_server = wanted & {"cold_throughput", "resume", "overhead", "http_throughput"}
        windows = [bench.window(sizes.lookback)]
        server = None
        if needs_server:
            cases.log("starting the HTTP server process (encodes every answer first)")
            server = cases.ServerProcess(
                max(sizes.http_symbols, sizes.fetch_only_symbols),
                sizes.years,
                sizes.latency,
                [(w.start, w.end) for w in windows],
            ).__enter__()
            bench.server = server
        try:
            if wanted & {"cold_throughput", "resume", "http_throughput"}:
                cold, resume = cases.section_cold(bench)
                sections["cold_throughput"] = cold
                sections["resume"] = resume
            for key in (k for k in ORDER if k in cases.SECTIONS):
                if key in wanted:
                    if key == "http_throughput" and not bench.cold_http:
                        continue
                    cases.log(f"section {key}")
                    sections[key] = cases.SECTIONS[key](bench)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started
    meta["seconds"] = elapsed
    meta["load_average_end"] = report.machine()["load_average_1_5_15"]
    previous = out_dir / "results.json"
    if args.only and previous.is_file():  # a partial re-run replaces only its sections
        results = json.loads(previous.read_text())
        if results["meta"]["mode"] == meta["mode"]:
            merged = dict(results["sections"])
            merged.update(sections)
            sections = merged
            meta["reruns"] = [
                *results["meta"].get("reruns", []),
                {"command": meta["command"], "started": started_wall},
            ]
            meta = {**results["meta"], "reruns": meta["reruns"]}
    results = {
        "meta": meta,
        "sections": {k: sections[k] for k in ORDER if k in sections},
    }
    analysis = BENCH_DIR / "ANALYSIS.md"
    if analysis.is_file() and not args.quick:
        results["analysis"] = [analysis.read_text()]
    json_path, md_path = report.write(out_dir, results)
    cases.log(f"wrote {md_path} and {json_path} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
