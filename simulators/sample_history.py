"""The tracer sample's thermal history, collected lazily and replayed into its diffusion model.

The world appends committed stretches of the sample's temperature (its location's, including
the stage's and furnace's transients) and replays them into the sample only when its isotope
field is needed (an image, a ground-truth query). Consecutive stretches merge while the
temperature stays within ``tolerance_k`` (the sample's model takes a constant temperature per
call) and the immersion does not change; a merged stretch carries its time-weighted mean
temperature, and exactly the shared temperature when all were equal, so cutting a held
temperature into pieces never changes a bit of the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["SampleHistory", "ThermalSegment"]


@dataclass(frozen=True)
class ThermalSegment:
    """A stretch of the sample's history: epoch s, the temperature integral in K s, min/max K."""

    start_s: float
    end_s: float
    integral_k_s: float
    min_k: float
    max_k: float
    immersed: bool
    location: str

    @property
    def duration_s(self) -> float:
        """Length of the stretch in s."""
        return self.end_s - self.start_s

    @property
    def temperature_k(self) -> float:
        """Time-weighted mean temperature in K (exactly the held one when constant)."""
        if self.min_k == self.max_k or self.duration_s <= 0:
            return self.min_k
        return self.integral_k_s / self.duration_s


class SampleHistory:
    """Pending stretches not yet replayed into the sample, and a log of all of them."""

    def __init__(self, start_s: float, tolerance_k: float = 2.0):
        self.end_s = float(start_s)
        self.tolerance_k = tolerance_k
        self.pending: list[ThermalSegment] = []
        self.log: list[ThermalSegment] = []

    def append(self, start_s: float, end_s: float, temperature_k: float, immersed: bool, location: str) -> None:
        """Add the stretch [start_s, end_s] at a mean ``temperature_k``; must continue the history."""
        start_s = max(start_s, self.end_s)
        if end_s <= start_s:
            return
        if start_s > self.end_s + 1e-6:
            raise RuntimeError(f"sample history has a gap from {self.end_s} s to {start_s} s")
        segment = ThermalSegment(
            start_s, end_s, temperature_k * (end_s - start_s), temperature_k, temperature_k, immersed, location
        )
        self.end_s = end_s
        for stretches in (self.pending, self.log):
            if stretches and self._mergeable(stretches[-1], segment):
                stretches[-1] = self._merged(stretches[-1], segment)
            else:
                stretches.append(segment)

    def pop_until(self, time_s: float) -> list[ThermalSegment]:
        """Remove and return the pending stretches up to ``time_s``, splitting the one across it."""
        ready, kept = [], []
        for segment in self.pending:
            if segment.end_s <= time_s:
                ready.append(segment)
            elif segment.start_s < time_s:
                first, second = _split(segment, time_s)
                ready.append(first)
                kept.append(second)
            else:
                kept.append(segment)
        self.pending = kept
        return ready

    def snapshot(self) -> dict[str, Any]:
        """Return the history as plain data."""
        return {
            "end_s": self.end_s,
            "pending": [asdict(s) for s in self.pending],
            "log": [asdict(s) for s in self.log],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back a history from :meth:`snapshot`."""
        self.end_s = float(snapshot["end_s"])
        self.pending = [ThermalSegment(**s) for s in snapshot["pending"]]
        self.log = [ThermalSegment(**s) for s in snapshot["log"]]

    def _mergeable(self, last: ThermalSegment, new: ThermalSegment) -> bool:
        return (
            last.immersed == new.immersed
            and last.location == new.location
            and last.end_s == new.start_s
            and max(last.max_k, new.max_k) - min(last.min_k, new.min_k) <= self.tolerance_k
        )

    @staticmethod
    def _merged(last: ThermalSegment, new: ThermalSegment) -> ThermalSegment:
        return replace(
            last,
            end_s=new.end_s,
            integral_k_s=last.integral_k_s + new.integral_k_s,
            min_k=min(last.min_k, new.min_k),
            max_k=max(last.max_k, new.max_k),
        )


def _split(segment: ThermalSegment, time_s: float) -> tuple[ThermalSegment, ThermalSegment]:
    """Cut a stretch at ``time_s``, each part keeping the mean temperature."""
    mean_k = segment.temperature_k
    first = replace(segment, end_s=time_s, integral_k_s=mean_k * (time_s - segment.start_s))
    second = replace(segment, start_s=time_s, integral_k_s=mean_k * (segment.end_s - time_s))
    return first, second
