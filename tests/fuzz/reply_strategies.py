"""Hypothesis strategies for malformed instrument replies, and the check every fuzzed call must pass.

A malformed reply is anything an instrument with a noisy line, a wrong setting or a firmware
bug might send instead of its answer: random bytes, printable junk, numbers Python parses but
no instrument writes (``nan``, ``1_0``, Arabic-Indic digits), the right text without its
terminator (the driver must time out), several lines for one, or nothing at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from hypothesis import strategies as st

from simslab.errors import InstrumentError

__all__ = ["line_replies", "modbus_frames", "FrameChange", "modbus_crc", "mangler", "check_call"]

NUMBER_LOOKALIKES = ["nan", "NaN", "inf", "-inf", "+1e999", "1_0", "\u0663", "0x1F", "1,2", "", " ", "+", "--1",
                     "1e", "\u00bd", "9" * 5000]


def line_replies(terminator: bytes) -> st.SearchStrategy[bytes]:
    """Draw what the driver receives instead of one reply line (terminator included or not)."""
    line = st.one_of(
        st.binary(max_size=40),
        st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40).map(str.encode),
        st.sampled_from(NUMBER_LOOKALIKES).map(lambda text: text.encode("utf-8")),
    )
    return st.one_of(
        line.map(lambda body: body + terminator),  # a garbled line
        st.lists(line, min_size=2, max_size=3).map(lambda lines: terminator.join(lines) + terminator),  # too many
        line.map(lambda body: body.replace(terminator, b"")),  # no terminator: the driver must time out
        st.just(b""),  # no reply at all
    )


def mangler(changes: list[bytes | Callable[[bytes], bytes]]) -> Callable[[bytes], bytes]:
    """Return a ``mangle`` applying ``changes`` to the peer's successive replies, in turn.

    A change is the bytes to send instead, or a function of the reply the peer sent.
    """
    count = iter(range(1 << 30))

    def mangle(original: bytes) -> bytes:
        change = changes[next(count) % len(changes)]
        return change(original) if callable(change) else change

    return mangle


def check_call(call: Callable[[], Any], instrument: str, sent: Callable[[], str], bound_s: float,
               names_command: Callable[[str, str], bool] | None = None) -> Any:
    """Call a driver method fed malformed replies; assert it answers or raises a proper InstrumentError.

    A proper error names the instrument and the command: by default one the driver really
    sent (``sent()`` returns the text sent during the call); ``names_command(command, sent)``
    judges drivers that name commands in words (Modbus register reads, MethodSCRIPT steps). An answer that needed a reply must hold finite
    numbers only: a garbled reply must never become a value (an answer given without asking
    the instrument, e.g. NaN for a switched-off output, is the driver's own). Either must come
    within ``bound_s``.
    """
    started = time.monotonic()
    try:
        value = call()
    except InstrumentError as err:
        assert err.instrument == instrument, err
        judge = names_command or (lambda command, text: command in text)
        assert err.command and judge(err.command, sent()), (err.command, sent())
        value = err
    else:
        assert _finite(value) or not sent(), f"a malformed reply became the value {value!r}"
    elapsed = time.monotonic() - started
    assert elapsed < bound_s, f"the call took {elapsed:.2f} s, more than {bound_s:.2f} s"
    return value


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if is_dataclass(value):
        return all(_finite(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    return True


def modbus_frames() -> st.SearchStrategy[FrameChange]:
    """Draw a change to a Modbus RTU reply frame (applied to the frame the peer sent).

    Noise (random bytes, a flipped byte, a cut or padded frame: the CRC no longer holds) and
    frames whose CRC is right but whose content is wrong (another slave or function, an
    exception code, a byte count that lies, random register values, a NaN or infinite float).
    """
    return st.one_of(
        st.builds(FrameChange, st.just("replace"), st.binary(max_size=12)),
        st.builds(FrameChange, st.just("flip"), st.binary(min_size=2, max_size=2)),
        st.builds(FrameChange, st.just("cut"), st.binary(min_size=1, max_size=1)),
        st.builds(FrameChange, st.just("pad"), st.binary(min_size=1, max_size=4)),
        st.builds(FrameChange, st.just("pdu"), st.binary(min_size=1, max_size=10)),
        st.builds(FrameChange, st.just("slave"), st.binary(min_size=1, max_size=1)),
        st.builds(FrameChange, st.just("exception"), st.binary(min_size=1, max_size=1)),
        st.builds(FrameChange, st.just("count"), st.binary(min_size=1, max_size=1)),
        st.builds(FrameChange, st.just("values"), st.binary(min_size=8, max_size=8)),
        st.builds(FrameChange, st.just("values"), st.sampled_from([b"\x7f\xc0\x00\x00", b"\x7f\x80\x00\x00",
                                                                   b"\xff\x80\x00\x00"])),  # NaN, +inf, -inf
        st.builds(FrameChange, st.just("silent"), st.just(b"")),
    )


@dataclass(frozen=True)
class FrameChange:
    """One change of a Modbus RTU frame: its kind and the bytes it uses (printed on failure)."""

    kind: str
    data: bytes

    def __call__(self, frame: bytes) -> bytes:
        if self.kind == "replace":
            return self.data
        if self.kind == "silent":
            return b""
        if len(frame) < 5:
            return frame
        body = frame[:-2]
        if self.kind == "flip":
            index = self.data[0] % len(frame)
            return frame[:index] + bytes([frame[index] ^ (self.data[1] or 1)]) + frame[index + 1:]
        if self.kind == "cut":
            return frame[: self.data[0] % len(frame)]
        if self.kind == "pad":
            return frame + self.data
        if self.kind == "pdu":
            return _with_crc(frame[:1] + self.data)
        if self.kind == "slave":
            return _with_crc(self.data + body[1:])
        if self.kind == "exception":
            return _with_crc(bytes([frame[0], frame[1] | 0x80, self.data[0] % 12]))
        if self.kind == "count":
            return _with_crc(body[:2] + self.data + body[3:])
        return _with_crc(body[:3] + (self.data * 8)[: len(body) - 3])  # "values": same length, new registers


def modbus_crc(data: bytes) -> bytes:
    """Return the Modbus RTU CRC-16 of ``data`` (polynomial 0xA001, low byte first)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def _with_crc(body: bytes) -> bytes:
    return body + modbus_crc(body)
