"""Malformed hand-off files: the IONTOF and operator drivers answer or name themselves and the file.

The "replies" of a hand-off are the files the other side writes (the IONTOF peer's BIF6
export, its ``result.json`` sidecar and ``failed.json``; the operator's ``location.json`` and
transfer files). Here they are drawn: noise, damaged BIF6 exports, JSON of the wrong shape or
with non-finite numbers. Every call must return at once with finite values (a location that
is a location) or raise an InstrumentError naming the instrument and the file it read.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from simslab.clock import ManualClock
from simslab.devices.drivers.bif6 import encode_bif6, mass_window
from simslab.devices.drivers.iontof_handoff import IontofHandoff
from simslab.devices.drivers.operator_handoff import OperatorHandoff
from simslab.devices.drivers.protocols import SAMPLE_LOCATIONS, AcquisitionRequest, Beam, MassChannel
from simslab.devices.drivers.settings import IontofHandoffSettings, OperatorHandoffSettings
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.reply_strategies import check_call

BOUND_S = 1.0  # a hand-off driver looks at files and answers: it never waits

LI6, LI7 = MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)
PIXELS = (4, 3)
NAMES = itertools.count()
COUNTS = np.arange(PIXELS[0] * PIXELS[1], dtype=np.uint32).reshape(PIXELS[1], PIXELS[0])
VALID_EXPORT = encode_bif6([mass_window(LI6, COUNTS, 1), mass_window(LI7, COUNTS, 2)])

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
JSON_VALUES = st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3),
                        st.dictionaries(st.text(max_size=6), JSON_SCALARS, max_size=3))


@st.composite
def json_documents(draw: st.DrawFn, keys: list[str]) -> bytes:
    """A file meant to be a JSON object with ``keys``: noise, another JSON type, or the keys with drawn values."""
    return draw(st.one_of(
        st.binary(max_size=60),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries({}, optional={key: JSON_VALUES for key in keys}).map(lambda doc: json.dumps(doc).encode()),
    ))


@st.composite
def bif6_exports(draw: st.DrawFn) -> bytes:
    """A BIF6 export: noise, or a valid one for the request with bytes flipped, cut or appended."""
    valid = VALID_EXPORT
    damage = draw(st.sampled_from(["noise", "flip", "cut", "append", "windows", "none", "none", "none"]))  # half valid
    if damage == "noise":
        return draw(st.binary(max_size=80))
    if damage == "flip":
        index = draw(st.integers(0, len(valid) - 1))
        return valid[:index] + bytes([valid[index] ^ draw(st.integers(1, 255))]) + valid[index + 1:]
    if damage == "cut":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    if damage == "append":
        return valid + draw(st.binary(min_size=1, max_size=8))
    if damage == "windows":  # images of masses nobody asked for
        return encode_bif6([mass_window(MassChannel("x", draw(st.floats(0.5, 500))), COUNTS, 1)])
    return valid


@fuzz_settings(50)
@example(export=VALID_EXPORT, sidecar=b'{"primary_ions": null}', failed=None)  # found by this test
@example(export=VALID_EXPORT, sidecar=b'{"started_s": NaN}', failed=None)
@given(export=st.one_of(st.none(), bif6_exports()),
       sidecar=st.one_of(st.none(), json_documents(["started_s", "finished_s", "primary_ions", "depth_m", "metadata"])),
       failed=st.one_of(st.none(), json_documents(["message"])))
def test_iontof_hand_off_answers_or_names_itself_and_the_file(tmp_path_factory, export, sidecar, failed):
    folder = tmp_path_factory.mktemp("iontof")
    (folder / "results").mkdir()
    clock = ManualClock(1.8e9)
    driver = IontofHandoff(IontofHandoffSettings(kind="iontof_handoff", request_dir=folder / "requests",
                                                 result_dir=folder / "results", timeout_s=600.0), now=clock.now)
    driver.connect()
    name = f"map{next(NAMES)}"
    driver.start_acquisition(AcquisitionRequest(
        kind="image", region="window", masses=(LI6, LI7), primary=Beam("Bi+", 30e3, 0.5e-12, (100e-6, 100e-6)),
        pixels=PIXELS, integration_s=100.0, output_name=name))
    for suffix, content in ((".bif6", export), (".result.json", sidecar), (".failed.json", failed)):
        if content is not None:
            (folder / "results" / f"{name}{suffix}").write_bytes(content)
    clock.advance(100.0)

    def names_file(command: str, _sent: str) -> bool:
        return name in command or command == "fetch_result"

    state = check_call(driver.read_acquisition, "iontof", lambda: "files", BOUND_S, names_file)
    if getattr(state, "state", None) == "done":
        result = check_call(driver.fetch_result, "iontof", lambda: "files", BOUND_S, names_file)
        if not isinstance(result, Exception):
            assert set(result.counts) == {"6Li+", "7Li+"}
            assert all(c.shape == (PIXELS[1], PIXELS[0]) for c in result.counts.values())


@fuzz_settings(50)
@example(location=None, confirmed=False,  # found by this test: a transfer file without its time
         transfer=b'{"request_id": "abcd0001", "destination": "furnace", "note": "", "requested_s": null}')
@example(location=b'{"location": "furnace"}', confirmed=True, transfer=b'{"request_id": 7}')
@given(location=st.one_of(st.none(), json_documents(["location", "request_id", "confirmed_s"])),
       transfer=st.one_of(st.none(), json_documents(["request_id", "destination", "note", "requested_s"])),
       confirmed=st.booleans())
def test_operator_hand_off_answers_or_names_itself_and_the_file(tmp_path_factory, location, transfer, confirmed):
    folder = tmp_path_factory.mktemp("handoff")
    if location is not None:
        (folder / "location.json").write_bytes(location)
    if transfer is not None:
        (folder / "abcd0001.transfer.json").write_bytes(transfer)
        if confirmed:
            (folder / "abcd0001.confirmed.json").write_bytes(b"{}")
    clock = ManualClock(1.8e9)
    driver = OperatorHandoff(OperatorHandoffSettings(kind="operator", handoff_dir=folder, timeout_s=3600.0),
                             now=clock.now)

    def names_folder(command: str, _sent: str) -> bool:
        return any(word in command for word in ("hand-off", "transfer", "location", ".json"))

    for call in (driver.connect, driver.read_location, driver.transfer_complete,
                 lambda: driver.request_transfer("furnace"), driver.read_location):
        answer = check_call(call, "sample_handler", lambda: "files", BOUND_S, names_folder)
        if call is driver.read_location and not isinstance(answer, Exception):
            assert answer in (*SAMPLE_LOCATIONS, "in_transfer"), answer
