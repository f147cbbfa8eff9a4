"""simslab plans: bluesky plans and plan stubs for the diffusion and operando experiments.

Plans (each opens one run and takes ``md``): :func:`isotope_exchange`, :func:`cryo_sims`,
:func:`anneal`, :func:`storage`, :func:`operando_cycling`, :func:`sims_image`,
:func:`sims_line_scan`, :func:`sims_depth_profile`. Stubs (no run): stage cooling and warming,
sample transfers, cleaning, acquisitions, cell steps, waits, safe state. Plans talk to devices
only; every wait runs on the session clock. Times in s, temperatures in K, SI throughout.
"""

from .acquisitions import (
    CLEANING_BEAM,
    CRYO_DEPTH_PROFILE,
    CRYO_IMAGE,
    CRYO_LINE_SCAN,
    OPERANDO_IMAGE,
    TRACER_REGION,
    Acquisition,
    acquisition_duration_s,
    configuration,
    expected_dose_ions_per_m2,
    masses,
)
from .anneal import anneal, cool_furnace, furnace_off, heat_and_hold
from .cell import cell_off, constant_current, constant_voltage, rest, run_cell_step, start_cell_step
from .cryo_sims import cryo_sims
from .exchange import DEFAULT_SOLUTION, isotope_exchange
from .imaging import acquire, acquisition_block, clean_surface, sims_depth_profile, sims_image, sims_line_scan
from .interlocks import ImagingInterlock, require_cold_stage, require_sample_at, require_sample_off_cold_stage
from .metadata import jsonable, run_metadata
from .monitoring import monitor_during, monitor_stream_name
from .operando import REFUSAL_STREAM, operando_cycling
from .operando_schedule import CyclingProtocol, ImageSchedule, ScheduleTracker
from .quench import quench_onto_stage
from .safety import make_safe, put_in_safe_state, safe_on_failure
from .sample import SAMPLE_LOCATION_STREAM, record_location, transfer_sample
from .stage import cool_stage, start_cooling, warm_stage
from .storage import storage
from .suspenders import SuspendableSignal, imaging_suspenders, stop_acquisition
from .waiting import hold_for, hold_until

__all__ = [
    "isotope_exchange",
    "cryo_sims",
    "anneal",
    "storage",
    "operando_cycling",
    "sims_image",
    "sims_line_scan",
    "sims_depth_profile",
    "cool_stage",
    "warm_stage",
    "start_cooling",
    "quench_onto_stage",
    "transfer_sample",
    "record_location",
    "clean_surface",
    "acquire",
    "acquisition_block",
    "heat_and_hold",
    "cool_furnace",
    "furnace_off",
    "rest",
    "constant_current",
    "constant_voltage",
    "cell_off",
    "run_cell_step",
    "start_cell_step",
    "hold_for",
    "hold_until",
    "safe_on_failure",
    "make_safe",
    "put_in_safe_state",
    "monitor_during",
    "run_metadata",
    "jsonable",
    "monitor_stream_name",
    "ImagingInterlock",
    "require_cold_stage",
    "require_sample_off_cold_stage",
    "require_sample_at",
    "SuspendableSignal",
    "imaging_suspenders",
    "stop_acquisition",
    "Acquisition",
    "CyclingProtocol",
    "ImageSchedule",
    "ScheduleTracker",
    "configuration",
    "acquisition_duration_s",
    "expected_dose_ions_per_m2",
    "masses",
    "CRYO_IMAGE",
    "CRYO_LINE_SCAN",
    "CRYO_DEPTH_PROFILE",
    "OPERANDO_IMAGE",
    "CLEANING_BEAM",
    "TRACER_REGION",
    "DEFAULT_SOLUTION",
    "SAMPLE_LOCATION_STREAM",
    "REFUSAL_STREAM",
]
