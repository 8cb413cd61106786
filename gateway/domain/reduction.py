"""Baseline and reduction: the numbers a demand-response program pays for.

Method (per device):

- **Baseline** (kW): the mean of the device's power samples taken in a window before the event
  start (``mean_before_event``). A device with no sample there has *no baseline* and is left out
  of the totals, and reported so.
- **Reduction** (kW) at a sample: ``baseline_kw - actual_kw``. A sample's value holds from its
  instant until the next sample (or the event end), so energy integrates over the real time
  between samples, not an assumed cadence.
- **Missing readings** are left out, never counted as 0 kW. A device's average reduction is the
  time-weighted mean over the time it was measured; its energy (kWh) is that average over the
  whole measured window. Missing data therefore lowers *coverage*, not the reduction.
- **Gaps**: time nobody measured (the executor down, Redis lost, a start later than the event's)
  is reported as ``gap_seconds`` and its sample instants count as missing, wherever in the
  window it falls: from the event's start to its first sample, between two samples, or from the
  last sample to the end. The window is always the event's, start to end.
- **Totals**: average reduction kW and energy kWh are sums over the devices with a baseline and
  at least one reading. kW and kWh are kept in separate fields everywhere.

Everything here is pure: the executor feeds samples in, and the same functions replay stored
samples after a restart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class BaselineMean:
    """Running per-device mean of the baseline window: memory per device, not per sample."""

    devices: int
    sums: list[float] = field(init=False)
    counts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.sums = [0.0] * self.devices
        self.counts = [0] * self.devices

    def add(self, sample: Sequence[float | None]) -> None:
        sums, counts = self.sums, self.counts
        for i, value in enumerate(sample):
            if value is not None:
                sums[i] += value
                counts[i] += 1

    def means(self) -> list[float | None]:
        """Per-device mean; ``None`` for a device never measured in the window."""
        return [s / c if c else None for s, c in zip(self.sums, self.counts, strict=True)]


def mean_before_event(
    samples: Sequence[Sequence[float | None]], devices: int
) -> list[float | None]:
    """The default baseline method: per-device mean of the samples before the start."""
    baseline = BaselineMean(devices)
    for sample in samples:
        baseline.add(sample)
    return baseline.means()


@dataclass(frozen=True, slots=True)
class DeviceResult:
    baseline_kw: float | None
    average_reduction_kw: float | None
    energy_reduction_kwh: float | None
    coverage: float
    note: str | None


@dataclass(frozen=True, slots=True)
class ReductionResult:
    average_reduction_kw: float
    energy_reduction_kwh: float
    coverage: float
    gap_seconds: float
    window_hours: float
    devices: tuple[DeviceResult, ...]


@dataclass(slots=True)
class ReductionTally:
    """Accumulates reduction over the event, in memory proportional to devices, not samples."""

    baselines: Sequence[float | None]
    kwh: list[float] = field(init=False)
    measured_hours: list[float] = field(init=False)
    present: list[int] = field(init=False)
    slots: int = 0  # device-sample slots seen, including gaps
    gap_seconds: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.baselines)
        self.kwh = [0.0] * n
        self.measured_hours = [0.0] * n
        self.present = [0] * n

    def copy(self) -> ReductionTally:
        twin = ReductionTally(self.baselines, slots=self.slots, gap_seconds=self.gap_seconds)
        twin.kwh, twin.measured_hours = list(self.kwh), list(self.measured_hours)
        twin.present = list(self.present)
        return twin

    def add(self, sample: Sequence[float | None], hours: float) -> None:
        """One sample whose values held for ``hours``."""
        self.slots += 1
        baselines, kwh, measured, present = (
            self.baselines,
            self.kwh,
            self.measured_hours,
            self.present,
        )
        for i, actual in enumerate(sample):
            if actual is None:
                continue
            present[i] += 1
            baseline = baselines[i]
            if baseline is not None:
                kwh[i] += (baseline - actual) * hours
                measured[i] += hours

    def add_gap(self, seconds: float, missed_samples: int) -> None:
        """Time nobody measured (the executor was down): counted as missing, reported."""
        self.gap_seconds += seconds
        self.slots += missed_samples

    def result(self, window_hours: float) -> ReductionResult:
        devices = []
        total_kw = total_kwh = 0.0
        present_total = 0
        for i, baseline in enumerate(self.baselines):
            coverage = self.present[i] / self.slots if self.slots else 0.0
            present_total += self.present[i]
            if baseline is None:
                devices.append(DeviceResult(None, None, None, coverage, "no baseline"))
                continue
            if self.measured_hours[i] <= 0:
                devices.append(DeviceResult(baseline, None, None, coverage, "no readings"))
                continue
            average = self.kwh[i] / self.measured_hours[i]
            energy = average * window_hours
            total_kw += average
            total_kwh += energy
            devices.append(DeviceResult(baseline, average, energy, coverage, None))
        slots = self.slots * len(self.baselines)
        return ReductionResult(
            average_reduction_kw=total_kw,
            energy_reduction_kwh=total_kwh,
            coverage=present_total / slots if slots else 0.0,
            gap_seconds=self.gap_seconds,
            window_hours=window_hours,
            devices=tuple(devices),
        )

    def current_reduction_kw(self, sample: Sequence[float | None]) -> float:
        """Reduction at one instant, over the devices measured in it (for live progress)."""
        return math.fsum(
            b - a
            for b, a in zip(self.baselines, sample, strict=True)
            if b is not None and a is not None
        )


@dataclass(slots=True)
class EventMeter:
    """Feeds event samples into a tally in order, holding each value until the next sample.

    ``window_start`` is the event's scheduled start, and sample ``k`` is due ``k`` cadences
    after it. A sample holds until the next one when that is the next index; when indices were
    skipped (the executor was down) it holds for one cadence and the rest is a gap. A first
    sample after index 0 (a late start) leaves the time since the start as a gap, and its
    skipped instants as missing. The same meter replays stored samples after a restart, so a
    resumed run adds up exactly like a live one.
    """

    baselines: Sequence[float | None]
    cadence_seconds: float
    window_start: datetime
    tally: ReductionTally = field(init=False)
    pending: tuple[int, datetime, Sequence[float | None]] | None = None

    def __post_init__(self) -> None:
        self.tally = ReductionTally(self.baselines)

    def feed(self, index: int, at: datetime, sample: Sequence[float | None]) -> None:
        if self.pending is not None:
            self._close(self.tally, self.pending, at, index)
        elif index > 0:
            # Nobody measured from the start until now: the same gap as an outage mid-event,
            # so coverage and energy tell the truth about a late start.
            self.tally.add_gap(max((at - self.window_start).total_seconds(), 0.0), index)
        self.pending = (index, at, sample)

    def result(self, until: datetime) -> ReductionResult:
        """Totals as if the run ended at ``until`` (the meter itself is left unchanged)."""
        tally = self.tally.copy()
        if self.pending is None:
            # Not one sample: the whole window so far is a gap, its instants all missing.
            elapsed = max((until - self.window_start).total_seconds(), 0.0)
            tally.add_gap(elapsed, math.ceil(elapsed / self.cadence_seconds))
        else:
            next_index = (
                self.pending[0]
                + 1
                + max(
                    0,
                    math.ceil((until - self.pending[1]).total_seconds() / self.cadence_seconds) - 1,
                )
            )
            self._close(tally, self.pending, until, next_index, final=True)
        window = max((until - self.window_start).total_seconds(), 0.0) / 3600.0
        return tally.result(window)

    def live_totals(self, until: datetime) -> tuple[float, float, float]:
        """(average kW, energy kWh, coverage) so far, for progress messages.

        The same sums as ``result`` without per-device objects or copies, which matters at
        100,000 devices every sample; gaps are left to the final result.
        """
        tally, pending = self.tally, self.pending
        hold = 0.0
        values: Sequence[float | None] = ()
        if pending is not None:
            hold = min(max((until - pending[1]).total_seconds(), 0.0), self.cadence_seconds)
            hold /= 3600.0
            values = pending[2]
        window = max((until - self.window_start).total_seconds(), 0.0) / 3600.0
        total_kw = total_kwh = 0.0
        for i, baseline in enumerate(self.baselines):
            if baseline is None:
                continue
            kwh, hours = tally.kwh[i], tally.measured_hours[i]
            actual = values[i] if values else None
            if actual is not None:
                kwh += (baseline - actual) * hold
                hours += hold
            if hours > 0:
                total_kw += kwh / hours
                total_kwh += kwh / hours * window
        present = sum(tally.present) + sum(v is not None for v in values)
        slots = (tally.slots + (1 if pending is not None else 0)) * len(self.baselines)
        return total_kw, total_kwh, present / slots if slots else 0.0

    def _close(
        self,
        tally: ReductionTally,
        pending: tuple[int, datetime, Sequence[float | None]],
        until: datetime,
        next_index: int,
        final: bool = False,
    ) -> None:
        index, at, sample = pending
        elapsed = max((until - at).total_seconds(), 0.0)
        skipped = next_index - index - 1
        if skipped <= 0 or (final and elapsed <= self.cadence_seconds * 1.5):
            tally.add(sample, elapsed / 3600.0)
            return
        held = min(elapsed, self.cadence_seconds)
        tally.add(sample, held / 3600.0)
        tally.add_gap(elapsed - held, skipped)
