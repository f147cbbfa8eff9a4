"""Replies become values only when they are what an instrument writes: numbers and hand-off files.

The number parser shared by the text drivers takes ASCII decimal numbers with a finite value
and nothing else Python's ``float``/``int`` would take; a hand-off file with a field of the
wrong type names the file and the field instead of failing later with a raw TypeError.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simslab.clock import ManualClock
from simslab.devices.drivers.base import InstrumentDriver, parse_integer, parse_number
from simslab.devices.drivers.bif6 import mass_window, write_bif6
from simslab.devices.drivers.handoff_folder import HandoffFileError
from simslab.devices.drivers.iontof_handoff import IontofHandoff
from simslab.devices.drivers.methodscript import decode_field
from simslab.devices.drivers.operator_handoff import OperatorHandoff, confirm_transfer
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.devices.drivers.settings import IontofHandoffSettings, OperatorHandoffSettings
from simslab.errors import InstrumentError

START_S = 1.8e9
O16 = MassChannel("16O-", 15.9949)


@pytest.mark.parametrize("text, value", [("+200.000", 200.0), ("-3.", -3.0), (".5", 0.5), ("2.5E+02", 250.0),
                                         ("7", 7.0), ("9.9E37", 9.9e37)])
def test_decimal_numbers_as_instruments_write_them_are_read(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "+1e999", "1_0", "\u0663", "0x1F", "1,2", "", " 1",
                                  "+", "--1", "1e", "\u00bd", "9" * 5000])
def test_number_lookalikes_python_accepts_are_refused(text):
    with pytest.raises(ValueError):
        parse_number(text)


def test_integers_are_ascii_digits_in_their_base():
    assert parse_integer("-12") == -12 and parse_integer("0001F", 16) == 31
    for text, base in [("1_0", 10), ("\u0663", 10), ("1.0", 10), ("+1F", 16), ("0x1F", 16), (" 1", 10)]:
        with pytest.raises(ValueError):
            parse_integer(text, base)


class _Replies:
    """A transport answering every query with one fixed reply."""

    timeout_s = 1.0

    def __init__(self, reply: str):
        self.reply = reply

    def query(self, message: str) -> str:
        return self.reply

    def write(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_non_finite_reply_raises_an_error_naming_instrument_command_and_reply():
    driver = InstrumentDriver("stage", "test-port-numbers", 1.0)
    driver.transport = _Replies("nan")
    with pytest.raises(InstrumentError) as caught:
        driver.query_number("SETP? 1", "a setpoint number")
    error = caught.value
    assert (error.instrument, error.command, error.reply) == ("stage", "SETP? 1", "nan")
    assert "a setpoint number" in error.problem


def test_a_methodscript_field_with_lenient_hex_digits_is_refused():
    assert decode_field("da8000001m")[1] == pytest.approx(1e-3)  # 2**27 + 1 in 7 hex digits, milli
    for field in ("da80_0001m", "da 800001m", "da0x00001m"):
        with pytest.raises(ValueError, match="hex digits"):
            decode_field(field)


@pytest.fixture
def finished_image(tmp_path):
    """An IONTOF hand-off whose image is done and exported; returns (driver, results folder)."""
    (tmp_path / "results").mkdir()
    clock = ManualClock(START_S)
    settings = IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "requests",
                                     result_dir=tmp_path / "results", timeout_s=600.0)
    driver = IontofHandoff(settings, now=clock.now)
    driver.connect()
    driver.start_acquisition(AcquisitionRequest(kind="image", region="grain-A", masses=(O16,),
                                                primary=Beam("Bi1+", 30e3, 0.5e-12, (1e-4, 1e-4)), pixels=(4, 3),
                                                integration_s=100.0, output_name="map1"))
    write_bif6(settings.result_dir / "map1.bif6", [mass_window(O16, np.ones((3, 4)), 1)])
    clock.advance(100.0)
    assert driver.read_acquisition().state == "done"
    return driver, settings.result_dir


@pytest.mark.parametrize("sidecar, field", [('{"primary_ions": null}', "primary_ions"),
                                            ('{"started_s": NaN}', "started_s"),
                                            ('{"finished_s": "1.8e9"}', "finished_s"),
                                            ('{"primary_ions": -5}', "primary_ions"),
                                            ('{"depth_m": [0, Infinity]}', "depth_m.1"),
                                            ('{"metadata": [1, 2]}', "metadata")])
def test_a_sidecar_field_of_the_wrong_kind_names_the_file_and_the_field(finished_image, sidecar, field):
    driver, results = finished_image
    (results / "map1.result.json").write_text(sidecar)
    with pytest.raises(InstrumentError) as caught:
        driver.fetch_result()
    error = caught.value
    assert error.instrument == "iontof" and "map1.result.json" in error.command
    assert "map1.result.json" in error.problem and f"field {field!r}" in error.problem


def test_a_sidecar_may_leave_fields_out(finished_image):
    driver, results = finished_image
    (results / "map1.result.json").write_text(json.dumps({"primary_ions": 12, "site": "ignored"}))
    result = driver.fetch_result()
    assert result.primary_ions == 12.0 and result.started_s == START_S  # the rest from the driver's own times


def test_a_transfer_file_without_its_time_names_the_file_and_the_field(tmp_path):
    (tmp_path / "abcd0001.transfer.json").write_text(
        '{"request_id": "abcd0001", "destination": "furnace", "note": "", "requested_s": null}')
    driver = OperatorHandoff(OperatorHandoffSettings(kind="operator", handoff_dir=tmp_path, timeout_s=3600.0),
                             now=ManualClock(START_S).now)
    with pytest.raises(InstrumentError) as caught:
        driver.connect()
    assert "abcd0001.transfer.json" in caught.value.problem and "field 'requested_s'" in caught.value.problem
    with pytest.raises(ValueError, match="requested_s"):  # the CLI's confirm sees a ValueError
        confirm_transfer(tmp_path)


def test_a_location_file_naming_no_location_is_refused(tmp_path):
    (tmp_path / "location.json").write_text('{"location": "bench"}')
    driver = OperatorHandoff(OperatorHandoffSettings(kind="operator", handoff_dir=tmp_path, timeout_s=3600.0),
                             now=ManualClock(START_S).now)
    driver.connect()
    with pytest.raises(InstrumentError, match="field 'location'") as caught:
        driver.read_location()
    assert isinstance(caught.value.__cause__, HandoffFileError)
