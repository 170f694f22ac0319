"""Source series of a scenario (``prometheus/series.yaml``), expanded and rendered as OpenMetrics.

Why: a kserve-flapping scenario's Prometheus answers must come from the real PromQL engine, not
from hand-written numbers (``rate()`` extrapolation, ``changes()`` over a subquery and
``histogram_quantile`` interpolation are easy to get wrong by hand). A scenario author writes the
series the cluster's exporters would have produced; tests/prom/backfill.py turns them into TSDB
blocks with ``promtool`` and a real Prometheus answers the ladder's queries over them.

Format (docs/snapshots.md)::

    interval: 30s             # spacing of the samples
    series:
    - name: kn_serving_invocation_duration_seconds_count
      labels: {k8s_namespace_name: team-a, kn_service_name: sklearn-iris-predictor}
      values: "0+600x120"

``values`` uses promtool's notation (``promtool test rules``): ``a+bxN`` is ``a a+b … a+N·b``
(N+1 samples), ``a-bxN`` counts down, ``axN`` repeats ``a`` N+1 times, ``_`` is a missing sample
(no sample at that step), ``_xN`` is N missing samples, plain values are space-separated (also
``NaN``, ``Inf``, ``-Inf``). ``stale`` is refused: OpenMetrics cannot carry a staleness marker.

Every series ends at the same instant: its last position (a sample or ``_``) is at "now" (the
scenario's capturedAt when recorded, see record_kserve.py), the one before it one interval earlier,
and so on — series of different lengths are aligned at the end, not at the start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

#: A missing sample at this step.
MISSING: Final = None
_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NUMBER: Final = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: ``a+bxN`` / ``a-bxN`` / ``axN`` (promtool's expanding notation)
_EXPANDING: Final = re.compile(rf"(?P<start>{_NUMBER})(?:(?P<sign>[-+])(?P<step>{_NUMBER}))?x(?P<count>\d+)")
_MISSING_RUN: Final = re.compile(r"_x(?P<count>\d+)")
_SPECIAL: Final = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
_DURATION: Final = re.compile(r"(?:(\d+)(ms|s|m|h|d))+")
_DURATION_PART: Final = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Value = float | None


class SeriesError(ValueError):
    """A series file that cannot be read; the message names the file and the offending entry."""


@dataclass(frozen=True)
class SourceSeries:
    name: str
    labels: tuple[tuple[str, str], ...]  # sorted
    values: tuple[Value, ...]  # one per step; None: no sample at that step

    def selector(self) -> str:
        """The series as PromQL/OpenMetrics text: ``name{a="b",…}``."""
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{escape(v)}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}"

    def samples(self, end_ms: int, interval_ms: int) -> list[tuple[int, float]]:
        """(timestamp ms, value) for every present sample, the last position at ``end_ms``."""
        last = len(self.values) - 1
        return [(end_ms - (last - i) * interval_ms, v) for i, v in enumerate(self.values) if v is not MISSING]


@dataclass(frozen=True)
class SeriesFile:
    path: Path
    interval_ms: int
    series: tuple[SourceSeries, ...]

    @property
    def span_ms(self) -> int:
        """From the earliest position of the longest series to the last one."""
        longest = max((len(s.values) for s in self.series), default=1)
        return (longest - 1) * self.interval_ms

    def openmetrics(self, end_ms: int) -> str:
        """The series as an OpenMetrics text exposition with timestamps, ending at ``end_ms``.

        One line per sample, grouped by series in time order (promtool appends each series'
        samples in order), no TYPE lines (every family is "unknown": promtool and PromQL do not
        care), terminated by ``# EOF`` as OpenMetrics requires.
        """
        lines = []
        for series in self.series:
            selector = series.selector()
            for at_ms, value in series.samples(end_ms, self.interval_ms):
                lines.append(f"{selector} {format_value(value)} {format_timestamp(at_ms)}")
        lines.append("# EOF")
        return "\n".join(lines) + "\n"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def format_timestamp(at_ms: int) -> str:
    """OpenMetrics timestamps are seconds; milliseconds are kept exactly."""
    seconds, millis = divmod(at_ms, 1000)
    return f"{seconds}" if not millis else f"{seconds}.{millis:03d}"


def parse_duration(text: str) -> int:
    """A Prometheus duration (``30s``, ``1m30s``, ``500ms``) in milliseconds."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"not a duration: {text!r} (like 15s, 1m, 1m30s)")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


def _number(token: str) -> float:
    special = _SPECIAL.get(token.lower())
    if special is not None:
        return special
    if not re.fullmatch(_NUMBER, token):
        raise ValueError(f"not a number: {token!r}")
    return float(token)


def expand(values: str) -> list[Value]:
    """promtool's expanding notation → one value (or None, missing) per step."""
    out: list[Value] = []
    for token in str(values).split():
        if token == "_":
            out.append(MISSING)
        elif token == "stale" or token.startswith("stale"):
            raise ValueError("'stale' cannot be backfilled (OpenMetrics has no staleness marker); use '_'")
        elif match := _MISSING_RUN.fullmatch(token):
            out.extend([MISSING] * int(match["count"]))
        elif match := _EXPANDING.fullmatch(token):
            start, count = float(match["start"]), int(match["count"])
            step = float(match["step"] or 0) * (-1 if match["sign"] == "-" else 1)
            out.extend(start + i * step for i in range(count + 1))
        else:
            try:
                out.append(_number(token))
            except ValueError:
                raise ValueError(
                    f"cannot read {token!r}: expected a number, '_', 'a+bxN', 'a-bxN', 'axN' or '_xN'"
                ) from None
    return out


def _series(path: Path, index: int, entry: Any) -> SourceSeries:
    where = f"{path}: series[{index}]"
    if not isinstance(entry, Mapping):
        raise SeriesError(f"{where}: expected a mapping with name, labels, values (got {entry!r:.80})")
    unknown = sorted(set(entry) - {"name", "labels", "values"})
    if unknown:
        raise SeriesError(f"{where}: unknown keys {', '.join(unknown)} (name, labels, values)")
    name = str(entry.get("name") or "")
    if not _NAME.fullmatch(name):
        raise SeriesError(f"{where}: name {name!r} is not a metric name")
    where = f"{path}: series[{index}] ({name})"
    labels = entry.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise SeriesError(f"{where}: labels must be a mapping of label name to value")
    for label in labels:
        if not _LABEL.fullmatch(str(label)) or str(label).startswith("__"):
            raise SeriesError(f"{where}: {label!r} is not a label name")
    if "values" not in entry or entry["values"] is None:
        raise SeriesError(f"{where}: values missing")
    try:
        values = expand(str(entry["values"]))
    except ValueError as error:
        raise SeriesError(f"{where}: values: {error}") from None
    if not values:
        raise SeriesError(f"{where}: values is empty")
    return SourceSeries(name, tuple(sorted((str(k), str(v)) for k, v in labels.items())), tuple(values))


def parse(data: Any, path: Path) -> SeriesFile:
    """A series file's content (already YAML-decoded); ``path`` is for the messages."""
    if not isinstance(data, Mapping):
        raise SeriesError(f"{path}: expected a mapping with interval and series")
    unknown = sorted(set(data) - {"interval", "series"})
    if unknown:
        raise SeriesError(f"{path}: unknown keys {', '.join(unknown)} (interval, series)")
    try:
        interval_ms = parse_duration(str(data.get("interval", "")))
    except ValueError as error:
        raise SeriesError(f"{path}: interval: {error}") from None
    if interval_ms <= 0:
        raise SeriesError(f"{path}: interval must be positive")
    entries = data.get("series")
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise SeriesError(f"{path}: series must be a non-empty list")
    series = tuple(_series(path, i, entry) for i, entry in enumerate(entries))
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for i, one in enumerate(series):
        key = (one.name, one.labels)
        if key in seen:
            raise SeriesError(f"{path}: series[{i}] {one.selector()} repeats series[{seen[key]}]")
        seen[key] = i
    return SeriesFile(path, interval_ms, series)


def load(path: Path) -> SeriesFile:
    """Read and check ``prometheus/series.yaml``; :class:`SeriesError` names the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SeriesError(f"cannot read {path}: {error}") from error
    return parse(data, path)
