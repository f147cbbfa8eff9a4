"""BIF6: exact layout, bit-identical round trip, mass mapping, and refusal of broken files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from simslab.devices.drivers.bif6 import (
    Bif6FormatError,
    Bif6Image,
    bif6_is_complete,
    decode_bif6,
    encode_bif6,
    images_for_masses,
    mass_window,
    read_bif6,
    write_bif6,
)
from simslab.devices.drivers.protocols import MassChannel

O16 = MassChannel("16O-", 15.9949)
O18 = MassChannel("18O-", 17.9992)


def _images(ny: int = 4, nx: int = 5) -> list[Bif6Image]:
    rng = np.random.default_rng(7)
    return [mass_window(O16, rng.integers(0, 2**32, (ny, nx), dtype=np.uint64), 1),
            mass_window(O18, rng.integers(0, 1000, (ny, nx)), 2)]


def test_layout_is_magic_sizes_then_id_window_and_bottom_row_first_pixels():
    counts = np.array([[1, 2, 3], [4, 5, 6]])  # row 0 is the top of the image
    data = encode_bif6([Bif6Image(15.5, 16.0, 16.5, counts, image_id=7)])
    assert data[:12] == b"\x00\x00BIF6" + struct.pack("<3H", 1, 3, 2)  # count, x pixels, y pixels
    assert data[12:28] == struct.pack("<I3f", 7, 15.5, 16.0, 16.5)
    # x fastest, bottom row first (tofsims and pySPM both flip y when they display)
    assert struct.unpack("<6I", data[28:]) == (4, 5, 6, 1, 2, 3)


def test_round_trip_through_a_file_is_bit_identical(tmp_path):
    images = _images()
    path = tmp_path / "map.bif6"
    write_bif6(path, images)
    back = read_bif6(path)
    assert encode_bif6(back) == path.read_bytes()
    for original, read in zip(images, back, strict=True):
        np.testing.assert_array_equal(read.counts, original.counts)
        assert read.counts.dtype == np.uint32
        # windows are float32 on disk: equal to float32 rounding (~1e-6 relative)
        assert read.mass_u == pytest.approx(original.mass_u, rel=1e-6)
    assert [i.image_id for i in back] == [1, 2]


@pytest.mark.slow  # importing pySPM takes ~6 s (matplotlib, scipy, scikit-image)
def test_pyspm_reader_sees_count_size_and_mass_window_of_our_file(tmp_path):
    ToF = pytest.importorskip("pySPM.ToF")
    path = tmp_path / "map.bif6"
    write_bif6(path, _images(ny=3, nx=3))
    reader = ToF.BIF6(str(path))
    try:
        assert reader.header[0] == b"BIF6" and reader.header[1] == 2
        assert reader.size == (3, 3)
        # pySPM's first two floats per image are our window's lower bound and centre
        assert reader.cat[1][0] == pytest.approx(O18.mass_u - 0.2, abs=1e-5)
        assert reader.cat[1][1] == pytest.approx(O18.mass_u, abs=1e-5)
    finally:
        reader.f.close()


def test_images_map_to_labels_by_window_whatever_the_file_order():
    images = list(reversed(_images()))
    found = images_for_masses(images, [O16, O18])
    np.testing.assert_array_equal(found["16O-"], images[1].counts)
    np.testing.assert_array_equal(found["18O-"], images[0].counts)


def test_repeated_windows_stack_into_frames_in_file_order():
    frames = [mass_window(O18, np.full((2, 2), k), k) for k in range(3)]
    stacked = images_for_masses(frames, [O18])["18O-"]
    assert stacked.shape == (3, 2, 2)
    assert stacked[:, 0, 0].tolist() == [0, 1, 2]


def test_a_mass_without_image_is_named_in_the_error():
    with pytest.raises(Bif6FormatError, match=r"no image for 32S- \(31\.97 u\)"):
        images_for_masses(_images(), [O16, MassChannel("32S-", 31.97)], "x.bif6")


def test_truncated_file_is_refused_and_reported_incomplete(tmp_path):
    data = encode_bif6(_images())
    path = tmp_path / "partial.bif6"
    path.write_bytes(data[:-4])
    assert not bif6_is_complete(path)
    with pytest.raises(Bif6FormatError, match=r"partial\.bif6: \d+ bytes, but its header \(2 images of 5 x 4\)"):
        read_bif6(path)
    path.write_bytes(data)
    assert bif6_is_complete(path)


def test_wrong_magic_is_refused():
    data = bytearray(encode_bif6(_images()))
    data[2:6] = b"BIF3"
    with pytest.raises(Bif6FormatError, match="not the BIF6 magic"):
        decode_bif6(bytes(data), "odd.bif6")


@pytest.mark.parametrize(
    "counts, problem",
    [(np.array([[-1, 0]]), "integers 0 to 2\\*\\*32-1"), (np.array([[0.5, 1]]), "integers"),
     (np.zeros(4), "2D")],
)
def test_counts_that_do_not_fit_uint32_pixels_are_refused(counts, problem):
    with pytest.raises(ValueError, match=problem):
        encode_bif6([mass_window(O16, counts, 1)])


def test_images_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="share one shape"):
        encode_bif6([mass_window(O16, np.zeros((2, 2)), 1), mass_window(O18, np.zeros((3, 2)), 2)])
