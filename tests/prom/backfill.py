"""A real Prometheus over a scenario's source series, backfilled with ``promtool``.

Why: kserve-flapping scenarios state their metrics as source series (``prometheus/series.yaml``,
tests/prom/series.py) instead of hand-written query answers. :func:`backfill` renders them as
OpenMetrics text with timestamps ending at ``end_ms`` (by default the real time minus a few
seconds), turns that into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics FILE
DIR``, and starts a :class:`PrometheusServer` with no scrape targets over that directory. The
ladder's PromQL is then evaluated by the real engine at ``end`` (:attr:`Backfilled.at`).

What was checked against Debian's Prometheus 2.42 (tests/prom/test_kserve_prometheus.py keeps
it checked):

* promtool accepts samples up to a few seconds old; it cuts them into blocks aligned to 2 h
  (its default and maximum block duration), so an hour of data can give two blocks.
* Prometheus loads those blocks at start-up even when they cover the last two hours, which
  the head block would normally own: the head is empty here, nothing overlaps, and retention
  is measured from the newest block, not the wall clock.
* Instant queries see a series only within the 5-minute lookback: the blocks carry no
  staleness markers, so a series whose last sample is older than 5 m before ``at`` is absent,
  one that stopped less than 5 m before still answers with its last value.
* ``rate()`` extrapolates towards the evaluation time, so answers only repeat exactly when
  queries are evaluated at the same offset from the samples: always query at :attr:`at` (the
  last sample's time), never at the server's own "now".

A missing ``promtool``, a refused file, a server that does not start or does not show the
series it was given: :class:`RuntimeError` with the tool's or the server's output. Callers fail
the test run; they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from .prometheus import PrometheusServer, Vector, find_binary
from .series import SeriesFile

#: The default end of the series: this long before the real time, so nothing lies in the future.
END_MARGIN_S: Final = 5
#: Prometheus' default lookback for instant vector selectors.
LOOKBACK_MS: Final = 5 * 60_000
PROMTOOL_TIMEOUT_S: Final = 120.0


def find_promtool() -> Path:
    """``$KFOPS_TEST_PROMTOOL`` if set (strictly), else next to the prometheus binary, else PATH."""
    override = os.environ.get("KFOPS_TEST_PROMTOOL")
    if override:
        if os.access(override, os.X_OK):
            return Path(override)
        raise RuntimeError(f"KFOPS_TEST_PROMTOOL={override} is not executable")
    candidates: list[str | None] = []
    with contextlib.suppress(RuntimeError):  # no prometheus binary: look elsewhere
        candidates.append(str(find_binary().parent / "promtool"))
    candidates += [shutil.which("promtool"), "/usr/bin/promtool"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise RuntimeError(
        "promtool not found (not next to the prometheus binary, not on PATH, not in /usr/bin); "
        "install it with scripts/testenv/install-prometheus.sh"
    )


def default_end_ms() -> int:
    """The real time minus :data:`END_MARGIN_S`, in whole seconds (as milliseconds)."""
    return (int(time.time()) - END_MARGIN_S) * 1000


def create_blocks(series: SeriesFile, end_ms: int, workdir: Path) -> Path:
    """Write ``series`` as OpenMetrics (``workdir/series.om``) and promtool's blocks into ``workdir/data``.

    Returns the data directory. RuntimeError with promtool's output when it fails or writes no block.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "series.om"
    source.write_text(series.openmetrics(end_ms), encoding="utf-8")
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    argv = [str(find_promtool()), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"{' '.join(argv)} failed: {error}") from error
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with code {done.returncode} (series from {series.path}):\n{output}"
        )
    if not any((path / "meta.json").is_file() for path in data.iterdir()):
        raise RuntimeError(f"{' '.join(argv)} wrote no block into {data}:\n{output}")
    return data


@dataclass
class Backfilled:
    """A running Prometheus over one series file; query it at :attr:`at`."""

    server: PrometheusServer
    series: SeriesFile
    end_ms: int

    @property
    def at(self) -> float:
        """The evaluation time: the instant of the series' last position (unix seconds)."""
        return self.end_ms / 1000

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, promql: str) -> Vector:
        """An instant query evaluated at :attr:`at`."""
        return self.server.query(promql, at=self.at)

    def close(self) -> None:
        self.server.close()


def _series_count(server: PrometheusServer, start_ms: int, end_ms: int) -> int:
    answer = httpx.get(
        f"{server.url}/api/v1/series",
        params={
            "match[]": '{__name__=~".+"}',
            "start": f"{start_ms / 1000:.3f}",
            "end": f"{end_ms / 1000:.3f}",
        },
        timeout=10.0,
    )
    answer.raise_for_status()
    return len(answer.json()["data"])


def check_loaded(backfilled: Backfilled) -> None:
    """The server holds every series it was given, and an instant query at ``at`` sees the recent ones."""
    series, end_ms, server = backfilled.series, backfilled.end_ms, backfilled.server
    present = [s for s in series.series if s.samples(end_ms, series.interval_ms)]
    stored = _series_count(server, end_ms - series.span_ms - 1000, end_ms + 1000)
    if stored != len(present):
        raise RuntimeError(
            f"Prometheus over the blocks of {series.path} holds {stored} series, expected {len(present)}: "
            f"a block was not loaded\n{server.logs()}"
        )
    recent = [s for s in present if end_ms - s.samples(end_ms, series.interval_ms)[-1][0] < LOOKBACK_MS]
    result = backfilled.query('count({__name__=~".+"})')
    seen = int(float(result[0]["value"][1])) if result else 0
    if seen != len(recent):
        raise RuntimeError(
            f"an instant query at {backfilled.at:.3f} sees {seen} series of {series.path}, expected "
            f"{len(recent)} (those with a sample in the last 5 m)\n{server.logs()}"
        )


def backfill(series: SeriesFile, workdir: Path, end_ms: int | None = None) -> Backfilled:
    """Blocks from ``series`` ending at ``end_ms`` (default: now minus a few seconds), and a
    Prometheus serving them, checked to hold them. The caller closes it."""
    end = default_end_ms() if end_ms is None else end_ms
    data = create_blocks(series, end, workdir)
    server = PrometheusServer.start(workdir / "server", {}, data_dir=data)
    backfilled = Backfilled(server, series, end)
    try:
        check_loaded(backfilled)
    except BaseException:
        server.close()
        raise
    return backfilled
