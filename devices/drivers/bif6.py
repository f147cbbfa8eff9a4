"""BIF6: IONTOF SurfaceLab's exported image file, read and written (the one place that knows it).

Layout, little-endian (the byte order of the Windows acquisition PC)::

    header      6 bytes  b"\\x00\\x00BIF6"
                3 x uint16  number of images, x pixels, y pixels
    per image   uint32   image id
                3 x float32  mass window: lower, centre, upper (u)
                nx * ny x uint32  counts, x fastest, first row = bottom of the image

Sources, read through the search tool (2026-11): the R package ``tofsims`` (``read_BIF`` in
``src/c_importer.cpp``: 6-byte header, then the three uint16, then per interval id, lower,
middle, upper and the pixels, y reversed for IONTOF), ``pybif6`` (a Python port of it:
``'<6s3H'`` with magic ``b'\\x00\\x00BIF6'``, ``'<I3f'`` per interval, image
``reshape((ny, nx))``) and a MATLAB ``loadBif6.m`` (same sizes; it names the floats centre,
lower, upper: the two orders disagree, this module follows ``tofsims``).

pySPM's deprecated ``pySPM.ToF.BIF6`` reads the same bytes as a 16-byte header ``"xx4s5H"``
(its last two words are the first image's id) and then four floats per image, which are the
mass window plus the first pixel: its window fields match this layout, its pixel offset is
one pixel late. Images here are numpy arrays (ny, nx) with row 0 at the top, as displayed:
the file's bottom-first rows are flipped on read and write, as both public readers do.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .handoff_folder import write_bytes_atomic
from .protocols import MassChannel

__all__ = [
    "Bif6Image",
    "Bif6FormatError",
    "encode_bif6",
    "decode_bif6",
    "write_bif6",
    "read_bif6",
    "bif6_is_complete",
    "images_for_masses",
    "mass_window",
    "BIF6_MAGIC",
]

BIF6_MAGIC = b"\x00\x00BIF6"
_HEADER = struct.Struct("<6s3H")
_IMAGE_HEADER = struct.Struct("<I3f")
_PIXEL = np.dtype("<u4")
DEFAULT_HALF_WIDTH_U = 0.2
"""Half width of the mass window written around each channel's mass, in u."""


class Bif6FormatError(ValueError):
    """A file is not a (complete) BIF6 file; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Bif6Image:
    """One image of a BIF6 file: its mass window in u and its counts (ny, nx), row 0 on top."""

    mass_low_u: float
    mass_u: float
    mass_high_u: float
    counts: np.ndarray
    image_id: int = 0

    def contains(self, mass_u: float) -> bool:
        """Return True if ``mass_u`` lies inside this image's mass window."""
        return self.mass_low_u <= mass_u <= self.mass_high_u


def mass_window(channel: MassChannel, counts: np.ndarray, image_id: int,
                half_width_u: float = DEFAULT_HALF_WIDTH_U) -> Bif6Image:
    """Return the image of ``channel`` with a window of +- ``half_width_u`` around its mass."""
    return Bif6Image(channel.mass_u - half_width_u, channel.mass_u, channel.mass_u + half_width_u,
                     np.asarray(counts), image_id)


def encode_bif6(images: Sequence[Bif6Image]) -> bytes:
    """Return the bytes of a BIF6 file holding ``images`` (all the same shape, uint32 counts).

    Raises ValueError for no images, mixed shapes, a size beyond 65535 pixels a side, or
    counts that are not non-negative integers below 2**32.
    """
    if not images:
        raise ValueError("a BIF6 file needs at least one image")
    shape = np.shape(images[0].counts)
    if len(shape) != 2 or not all(0 < n <= 0xFFFF for n in shape):
        raise ValueError(f"BIF6 images are 2D with 1-65535 pixels a side, got shape {shape}")
    if len(images) > 0xFFFF:
        raise ValueError(f"a BIF6 file holds at most 65535 images, got {len(images)}")
    ny, nx = shape
    parts = [_HEADER.pack(BIF6_MAGIC, len(images), nx, ny)]
    for image in images:
        counts = np.asarray(image.counts)
        if counts.shape != shape:
            raise ValueError(f"BIF6 images must share one shape: {counts.shape} != {shape}")
        if counts.size and (counts.min() < 0 or counts.max() > 0xFFFFFFFF or not np.all(np.mod(counts, 1) == 0)):
            raise ValueError(f"BIF6 counts are integers 0 to 2**32-1 (image at {image.mass_u} u)")
        parts.append(_IMAGE_HEADER.pack(image.image_id, image.mass_low_u, image.mass_u, image.mass_high_u))
        parts.append(np.flipud(counts).astype(_PIXEL).tobytes())
    return b"".join(parts)


def decode_bif6(data: bytes, source: str = "BIF6 data") -> list[Bif6Image]:
    """Return the images in the bytes of a BIF6 file; raise Bif6FormatError if it is not one."""
    if len(data) < _HEADER.size:
        raise Bif6FormatError(f"{source}: {len(data)} bytes, shorter than the {_HEADER.size}-byte BIF6 header")
    magic, count, nx, ny = _HEADER.unpack_from(data)
    if magic != BIF6_MAGIC:
        raise Bif6FormatError(f"{source}: starts with {magic!r}, not the BIF6 magic {BIF6_MAGIC!r}")
    expected = _expected_size(count, nx, ny)
    if len(data) != expected:
        raise Bif6FormatError(
            f"{source}: {len(data)} bytes, but its header ({count} images of {nx} x {ny}) needs {expected}"
        )
    images = []
    offset = _HEADER.size
    pixels = nx * ny
    for _ in range(count):
        image_id, low, centre, high = _IMAGE_HEADER.unpack_from(data, offset)
        offset += _IMAGE_HEADER.size
        rows = np.frombuffer(data, dtype=_PIXEL, count=pixels, offset=offset).reshape(ny, nx)
        offset += pixels * _PIXEL.itemsize
        images.append(Bif6Image(low, centre, high, np.flipud(rows).astype(np.uint32), image_id))
    return images


def write_bif6(path: Path, images: Sequence[Bif6Image]) -> None:
    """Write ``images`` as a BIF6 file at ``path``, atomically (readers never see half a file)."""
    write_bytes_atomic(Path(path), encode_bif6(images))


def read_bif6(path: Path) -> list[Bif6Image]:
    """Read the images of the BIF6 file at ``path``; raise Bif6FormatError if it is not one."""
    path = Path(path)
    return decode_bif6(path.read_bytes(), str(path))


def bif6_is_complete(path: Path) -> bool:
    """Return True once the file at ``path`` holds as many bytes as its header announces.

    An exporter that writes in place (not atomically) leaves a file that grows: this tells a
    finished export from one still being written without reading the pixels.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            header = stream.read(_HEADER.size)
            size = path.stat().st_size
    except FileNotFoundError:
        return False
    if len(header) < _HEADER.size:
        return False
    magic, count, nx, ny = _HEADER.unpack(header)
    return magic == BIF6_MAGIC and size == _expected_size(count, nx, ny)


def images_for_masses(images: Sequence[Bif6Image], masses: Sequence[MassChannel],
                      source: str = "BIF6 file") -> dict[str, np.ndarray]:
    """Return the counts per mass label: the images whose window holds the label's mass.

    One image per mass gives an (ny, nx) array; several (a depth profile exported frame by
    frame, in file order) give a stack (frames, ny, nx). Raises Bif6FormatError naming the
    labels no image covers.
    """
    found: dict[str, np.ndarray] = {}
    missing = []
    for channel in masses:
        frames = [image.counts for image in images if image.contains(channel.mass_u)]
        if not frames:
            missing.append(f"{channel.label} ({channel.mass_u:g} u)")
            continue
        found[channel.label] = frames[0] if len(frames) == 1 else np.stack(frames)
    if missing:
        windows = ", ".join(f"{i.mass_low_u:.3f}-{i.mass_high_u:.3f}" for i in images)
        raise Bif6FormatError(f"{source}: no image for {', '.join(missing)} (mass windows: {windows} u)")
    return found


def _expected_size(count: int, nx: int, ny: int) -> int:
    return _HEADER.size + count * (_IMAGE_HEADER.size + nx * ny * _PIXEL.itemsize)
