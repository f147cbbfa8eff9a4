"""Rebuild the plan of a recorded run from its start document, for a replay on the simulated lab.

bluesky's plans record their arguments in ``plan_args``, devices as their ``repr``
(``CryoStage(name="stage")``); simslab's plans record devices by name in ``plan_args`` and the
rest of their arguments in blocks of their own (``acquisition``, ``anneal``, ``imaging`` ...).
A plan is rebuilt only if it is in :data:`KNOWN_PLANS` and every argument it needs comes back
as a value: a device or signal found by name in the session, a number, a string, a list, a
model validated from its recorded data. Anything else (a callable recorded as its repr, a
device the session lacks, a required argument nobody recorded, a plan nobody registered)
raises :class:`~simslab.errors.ReplayError` naming the plan and the argument.

Campaign runs are not rebuilt here: the campaign runner rebuilds them from the campaign spec
their start documents carry (:mod:`simslab.replay`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import bluesky.plans as bp
from pydantic import ValidationError as ModelError

from simslab import plans
from simslab.errors import ReplayError

__all__ = ["RebuiltPlan", "KNOWN_PLANS", "BLUESKY_PLANS", "rebuild_plan", "device_names", "replay_metadata"]

BLUESKY_PLANS = ("count", "scan", "rel_scan", "list_scan", "rel_list_scan", "list_grid_scan", "rel_list_grid_scan",
                 "grid_scan", "rel_grid_scan", "log_scan", "rel_log_scan", "adaptive_scan", "rel_adaptive_scan",
                 "tune_centroid")
"""bluesky.plans rebuilt from ``plan_args`` alone (each must still find every required argument there)."""

_BLUESKY_KEYS = {"uid", "time", "scan_id", "versions", "plan_type", "plan_name", "plan_args", "hints", "detectors",
                 "motors", "num_points", "num_intervals", "plan_pattern", "plan_pattern_module", "plan_pattern_args",
                 "shape", "extents", "snaking"}
_SESSION_KEYS = {"profile", "simulated", "twin", "twin_seed", "replay_of", "replay_of_campaign"}
_DEVICE_REPR = re.compile(r"^[A-Za-z_][\w.]*\(.*?\bname=['\"]([^'\"]+)['\"].*\)$")
_OBJECT_REPR = re.compile(r"^<.*>$|\bat 0x[0-9a-f]+")


@dataclass(frozen=True)
class RebuiltPlan:
    """A plan ready for the RunEngine, and what the record could not say (arguments left at their defaults)."""

    plan_name: str
    plan: Iterator[Any]
    notes: tuple[str, ...] = ()


def rebuild_plan(start: Mapping[str, Any], devices: Mapping[str, Any], clock: Any,
                 md: Mapping[str, Any] | None = None) -> RebuiltPlan:
    """Return the plan ``start`` records, on the session's ``devices`` and ``clock``, with metadata ``md``.

    Raises ReplayError if the plan is not in :data:`KNOWN_PLANS` or an argument cannot be rebuilt.
    """
    name = start.get("plan_name")
    recipe = KNOWN_PLANS.get(name) if isinstance(name, str) else None
    if recipe is None:
        raise ReplayError(f"run {str(start.get('uid', '?'))[:8]}: plan {name!r} is not a known plan (known: "
                          f"{', '.join(sorted(KNOWN_PLANS))}): a replay cannot rebuild it")
    recorded = _Recorded(start, device_names(devices), clock, dict(md or {}))
    return RebuiltPlan(name, recipe(recorded), tuple(recorded.notes))


def replay_metadata(start: Mapping[str, Any], session_md: Mapping[str, Any]) -> dict[str, Any]:
    """Return the metadata of ``start`` a replayed run carries over: what the user added (sample, ...).

    Leaves out what bluesky, the plan (its ``plan_args`` and blocks) and the session write anew.
    """
    name = start.get("plan_name")
    produced = _BLOCKS.get(name, ()) if isinstance(name, str) else ()
    skip = _BLUESKY_KEYS | _SESSION_KEYS | set(produced) | set(session_md)
    return {key: value for key, value in start.items() if key not in skip}


def device_names(devices: Mapping[str, Any]) -> dict[str, Any]:
    """Return every device and child signal of ``devices`` by its name (``stage``, ``stage-temperature``)."""
    found: dict[str, Any] = {}

    def walk(device: Any) -> None:
        name = getattr(device, "name", "")
        if name:
            found.setdefault(name, device)
        children = getattr(device, "children", None)
        if callable(children):
            for _, child in children():
                walk(child)

    for device in devices.values():
        walk(device)
    return found


@dataclass
class _Recorded:
    """A start document seen as the arguments of its plan."""

    start: Mapping[str, Any]
    devices: dict[str, Any]
    clock: Any
    md: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def plan_name(self) -> str:
        return str(self.start["plan_name"])

    def refuse(self, argument: str, why: str) -> ReplayError:
        uid = str(self.start.get("uid", "?"))[:8]
        return ReplayError(f"run {uid}: plan {self.plan_name!r}, argument {argument!r}: {why}: a replay cannot rebuild it")

    def plan_arg(self, key: str) -> Any:
        args = self.start.get("plan_args")
        if not isinstance(args, Mapping) or key not in args:
            raise self.refuse(key, "not recorded in plan_args")
        return args[key]

    def block(self, name: str) -> Mapping[str, Any]:
        value = self.start.get(name)
        if not isinstance(value, Mapping):
            raise self.refuse(name, f"the start document has no {name!r} block")
        return value

    def device(self, key: str) -> Any:
        """The session's device the ``plan_args`` entry ``key`` names (by name or repr)."""
        return self.device_named(self.plan_arg(key), key)

    def device_named(self, reference: Any, argument: str) -> Any:
        if not isinstance(reference, str):
            raise self.refuse(argument, f"{reference!r} is not a device reference")
        match = _DEVICE_REPR.match(reference)
        name = match.group(1) if match else reference
        if name not in self.devices:
            raise self.refuse(argument, f"no device or signal named {name!r} in the session")
        return self.devices[name]

    def model(self, model: type, value: Any, argument: str) -> Any:
        if value is None:
            return None
        try:
            return model.model_validate(value)
        except ModelError as err:
            raise self.refuse(argument, f"the recorded value is not a valid {model.__name__} ({err.error_count()} "
                                        "error(s))") from None

    def defaulted(self, *arguments: str) -> None:
        self.notes.append(f"{self.plan_name}: {', '.join(arguments)} not recorded: taken at the plan's default")

    def interlock(self) -> plans.ImagingInterlock | None:
        described = self.start.get("imaging_interlock")
        if described is None:
            return None
        temperature = self.device_named(described.get("temperature"), "interlock.temperature")
        owner = self.devices.get(str(described["temperature"]).split("-")[0])
        return plans.ImagingInterlock(temperature, float(described["target_k"]), float(described["tolerance_k"]),
                                      getattr(owner, "cooling_ok", None))


# --- bluesky.plans: the arguments are all in plan_args ------------------------------------------


def _bluesky(plan: Callable[..., Any]) -> Callable[[_Recorded], Iterator[Any]]:
    def build(recorded: _Recorded) -> Iterator[Any]:
        args = recorded.start.get("plan_args")
        if not isinstance(args, Mapping):
            raise recorded.refuse("plan_args", "not recorded")
        signature = inspect.signature(plan)
        keywords, varargs = {}, []
        for key, value in args.items():
            if key == "per_step":
                if value not in (None, "None"):
                    raise recorded.refuse(key, f"a callable, recorded only as {value!r}")
                continue
            if key == "args":
                varargs = [_value(recorded, v, key) for v in value]
            elif key not in signature.parameters:
                raise recorded.refuse(key, f"not a parameter of bluesky.plans.{plan.__name__}")
            else:
                keywords[key] = _value(recorded, value, key)
        keywords["md"] = recorded.md
        positional = []
        if varargs:  # parameters before *args go by position
            for parameter in signature.parameters.values():
                if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                    break
                if parameter.name in keywords:
                    positional.append(keywords.pop(parameter.name))
        try:
            signature.bind(*positional, *varargs, **keywords)
        except TypeError as err:
            raise recorded.refuse("plan_args", str(err)) from None
        return plan(*positional, *varargs, **keywords)

    return build


def _value(recorded: _Recorded, value: Any, argument: str) -> Any:
    """A recorded bluesky argument: a device repr becomes the device, an object's repr is refused."""
    if isinstance(value, list):
        return [_value(recorded, v, argument) for v in value]
    if isinstance(value, str) and _DEVICE_REPR.match(value):
        return recorded.device_named(value, argument)
    if isinstance(value, str) and _OBJECT_REPR.search(value):
        raise recorded.refuse(argument, f"an object recorded only as its repr {value!r}")
    return value


# --- simslab.plans: devices in plan_args, the rest in the plan's blocks --------------------------


def _sims_single(plan: Callable[..., Any]) -> Callable[[_Recorded], Iterator[Any]]:
    def build(r: _Recorded) -> Iterator[Any]:
        acquisition = r.model(plans.Acquisition, r.start.get("acquisition"), "acquisition")
        return plan(r.device("detector"), acquisition=acquisition, interlock=r.interlock(),
                    num=int(r.plan_arg("num")), md=r.md)

    return build


def _anneal(r: _Recorded) -> Iterator[Any]:
    block = r.block("anneal")
    r.defaulted("imaging_temperature_k")
    return plans.anneal(r.device("furnace"), r.device("sample_handler"), r.device("stage"),
                        temperature_k=block["temperature_k"], hold_s=block["hold_s"],
                        ramp_k_per_s=block.get("ramp_k_per_s"), cool_to_k=block["cool_to_k"],
                        then_to=block["then_to"], md=r.md)


def _storage(r: _Recorded) -> Iterator[Any]:
    block = r.block("storage")
    r.defaulted("imaging_temperature_k", "precool_s")
    return plans.storage(r.device("sample_handler"), r.device("stage"), duration_s=block["duration_s"],
                         temperature_k=block["temperature_k"], atmosphere=block["atmosphere"],
                         then_to=block["then_to"], md=r.md)


def _isotope_exchange(r: _Recorded) -> Iterator[Any]:
    block = r.block("exchange")
    if block.get("end_time_s") is not None:
        raise r.refuse("end_time_s", "an end time on the original session's clock, not a duration")
    r.defaulted("imaging_temperature_k", "precool_s")
    return plans.isotope_exchange(r.device("sample_handler"), r.device("stage"), duration_s=block["duration_s"],
                                  solution=block["solution"], temperature_k=block["temperature_k"],
                                  then_to=block["then_to"], clock=r.clock, md=r.md)


def _cryo_sims(r: _Recorded) -> Iterator[Any]:
    block = r.block("imaging")
    acquisitions = block.get("acquisitions") or {}
    image, line_scan, depth_profile = (r.model(plans.Acquisition, acquisitions.get(name), f"imaging.acquisitions.{name}")
                                       for name in ("image", "line_scan", "depth_profile"))
    r.defaulted("monitor")
    return plans.cryo_sims(r.device("stage"), r.device("sims"), r.device("sample_handler"), image=image,
                           line_scan=line_scan, depth_profile=depth_profile, temperature_k=block["temperature_k"],
                           unload_to=block["unload_to"], unload_temperature_k=block["unload_temperature_k"], md=r.md)


def _operando_cycling(r: _Recorded) -> Iterator[Any]:
    r.defaulted("poll_s")
    return plans.operando_cycling(
        r.device("potentiostat"), r.device("sims"), r.clock,
        cycling=r.model(plans.CyclingProtocol, r.block("cycling"), "cycling"),
        regions=tuple(r.plan_arg("regions")),
        acquisition=r.model(plans.Acquisition, r.block("acquisition"), "acquisition"),
        schedule=r.model(plans.ImageSchedule, r.block("schedule"), "schedule"),
        dose_budget_ions_per_m2=float(r.start["dose_budget_ions_per_m2"]), md=r.md)


KNOWN_PLANS: dict[str, Callable[[_Recorded], Iterator[Any]]] = {
    **{name: _bluesky(getattr(bp, name)) for name in BLUESKY_PLANS},
    "sims_image": _sims_single(plans.sims_image),
    "sims_line_scan": _sims_single(plans.sims_line_scan),
    "sims_depth_profile": _sims_single(plans.sims_depth_profile),
    "anneal": _anneal,
    "storage": _storage,
    "isotope_exchange": _isotope_exchange,
    "cryo_sims": _cryo_sims,
    "operando_cycling": _operando_cycling,
}
"""Plans a replay can rebuild, by the ``plan_name`` their start documents carry."""

_BLOCKS = {
    "sims_image": ("acquisition", "imaging_interlock"),
    "sims_line_scan": ("acquisition", "imaging_interlock"),
    "sims_depth_profile": ("acquisition", "imaging_interlock"),
    "anneal": ("anneal",),
    "storage": ("storage",),
    "isotope_exchange": ("exchange",),
    "cryo_sims": ("imaging",),
    "operando_cycling": ("cycling", "schedule", "regions", "acquisition", "dose_budget_ions_per_m2",
                         "expected_dose_per_image_ions_per_m2"),
}
"""The start-document blocks each simslab plan writes itself (not carried over into a replay's metadata)."""
