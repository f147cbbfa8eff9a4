"""What "safe" means for the soak: the hazards an instrument can leave on, read from the simulated lab.

Three instruments can leave energy flowing into the sample when their controlling process
stops: the furnace (heating), the potentiostat (a current forced through the cell) and the
SIMS (a primary beam on the sample). They are safe when the furnace is not heating (manual
with its output off, or holding no more than room temperature with no output), the cell is
off or at open circuit, and no acquisition runs. The cryo stage's safe state is "hold where it
is", which any temperature satisfies, and the sample handler holds no hazard: neither is
counted.

A SIGKILL cannot switch a real furnace off: the instruments stay as the kill left them. The
simulated world of a killed process is gone instead (a resumed one restores the twin as the
last finished step left it), so :func:`impose_hazards` puts the kill-time hazards back into
the restored world before the resume runs: what the resume then finds is what a real lab
would show it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel

__all__ = ["InstrumentState", "read_instruments", "impose_hazards"]

logger = logging.getLogger(__name__)

HEATING_MARGIN_K = 1.0
"""A furnace in automatic counts as heating when its target is this far above room temperature."""
IMPOSED_REGION = "anode"
"""Where an imposed beam points: a cell window is always under the beam, wherever the sample is."""


@dataclass(frozen=True)
class InstrumentState:
    """The hazard-relevant state of the furnace, the cell and the SIMS at one virtual time (epoch s)."""

    time_s: float
    furnace_manual: bool
    furnace_output: float
    furnace_target_k: float
    room_temperature_k: float
    cell_mode: str
    cell_setpoint: float
    cell_limit: float
    acquisition: str

    def unsafe(self) -> list[str]:
        """Return the instruments not in their safe state: 'furnace', 'potentiostat', 'sims'."""
        heating = not self.furnace_manual and (
            self.furnace_output > 0.0 or self.furnace_target_k > self.room_temperature_k + HEATING_MARGIN_K
        )
        found = ["furnace"] if heating else []
        if self.cell_mode in ("cc", "cv"):
            found.append("potentiostat")
        if self.acquisition == "running":
            found.append("sims")
        return found

    def hazards(self) -> tuple[Any, ...]:
        """Return what changes whether (and how) the state is unsafe, to log a state only when it changes."""
        return (tuple(self.unsafe()), self.furnace_manual, round(self.furnace_target_k, 3), self.cell_mode,
                self.acquisition)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstrumentState:
        return cls(**data)


def read_instruments(lab: Any) -> InstrumentState:
    """Read the furnace, cell and SIMS of a SimulatedLab now (a read: the world's course is unchanged)."""
    with lab.at_now() as now:
        furnace = lab.furnace.state_at(now)
        cell = lab.cell.state_at(now)
        acquisition = lab.acquisition_state().state
        return InstrumentState(
            time_s=now, furnace_manual=furnace.manual, furnace_output=float(furnace.output),
            furnace_target_k=float(furnace.target_setpoint_k),
            room_temperature_k=float(lab.params.furnace.ambient_temperature_k),
            cell_mode=cell.mode, cell_setpoint=float(cell.setpoint), cell_limit=float(cell.limit),
            acquisition=acquisition,
        )


def impose_hazards(lab: Any, state: InstrumentState) -> list[str]:
    """Switch on in ``lab``, now, every hazard ``state`` shows; return the instruments changed.

    The furnace goes to automatic at the recorded target, the cell back to its recorded mode,
    and a beam is started on a cell window (no sample location needed).
    """
    imposed = state.unsafe()
    with lab.at_now() as now:
        if "furnace" in imposed:
            lab.furnace.set_setpoint_k(now, state.furnace_target_k)
            lab.furnace.switch_to_automatic(now)
        if "potentiostat" in imposed:
            lab.cell.set_mode(now, state.cell_mode, state.cell_setpoint, state.cell_limit)
    if "sims" in imposed and lab.acquisition_state().state != "running":
        lab.start_acquisition(_beam_on_request())
    if imposed:
        logger.info("imposed the kill-time hazards on the restored twin: %s", ", ".join(imposed))
    return imposed


def _beam_on_request() -> AcquisitionRequest:
    """An hour-long image of a cell window with a typical Bi3+ analysis beam."""
    return AcquisitionRequest(
        kind="image", region=IMPOSED_REGION, masses=(MassChannel("7Li", 7.016),),
        primary=Beam("Bi3+", 25e3, 0.3e-12, (100e-6, 100e-6)), pixels=(16, 16), integration_s=3600.0,
        output_name="soak_kill_time_beam",
    )
