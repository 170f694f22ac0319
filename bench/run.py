"""Benchmarks (not tests): run them with `make bench`, record the figures in docs/benchmarks.md.

Measures, each over several runs in fresh processes:
- `kfops --help` cold start (target < 0.4 s);
- one `gpu-node-down` diagnosis of a generated 2,000-node / 30,000-pod snapshot, targeted
  (`--node`) and as a sweep: wall time (target < 2 s) and peak RSS (target < 200 MB).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "out" / "snapshot-2000n-30000p"
RUNS = int(os.environ.get("KFOPS_BENCH_RUNS", "5"))


def measure(name: str, argv: list[str]) -> dict[str, object]:
    walls, rsses = [], []
    last = ""
    for _ in range(RUNS):
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert process.stdout is not None
        last = process.stdout.read()
        _, _, usage = os.wait4(process.pid, 0)
        walls.append(time.perf_counter() - started)
        rsses.append(usage.ru_maxrss / 1024)
    row: dict[str, object] = {
        "benchmark": name,
        "runs": RUNS,
        "wall_median_s": round(statistics.median(walls), 3),
        "wall_max_s": round(max(walls), 3),
        "peak_rss_mb": round(max(rsses), 1),
    }
    if last.startswith("{"):
        doc = json.loads(last)
        first = doc["items"][0] if "items" in doc else doc
        row["requests"] = first["stats"]["requests"]
        row["engine_s"] = first["durationSeconds"]
        row["verdict"] = f"{first['status']}/{first['conclusion']['cause']}"
    return row


def main() -> None:
    if not SNAPSHOT.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(SNAPSHOT)], check=True)
    kfops = [sys.executable, "-m", "kfops"]
    diagnose = [*kfops, "diagnose", "gpu-node-down", "--snapshot", str(SNAPSHOT), "-o", "json"]
    rows = [
        measure("kfops --help (cold start)", [*kfops, "--help"]),
        measure(
            "gpu-node-down --node gpu-node-0007, 2,000 nodes / 30,000 pods",
            [*diagnose, "--node", "gpu-node-0007"],
        ),
        measure("gpu-node-down sweep, 2,000 nodes / 30,000 pods", diagnose),
    ]
    print_table(rows)


def print_table(rows: list[dict[str, object]]) -> None:
    """The rows as a Markdown table, for docs/benchmarks.md."""
    keys = [
        "benchmark",
        "runs",
        "wall_median_s",
        "wall_max_s",
        "peak_rss_mb",
        "engine_s",
        "requests",
        "verdict",
    ]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
