"""Packed interval counters: what is stored reads back the same, in either width and from older versions."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from omnihub.quality import packed
from omnihub.quality.rollups import COUNTERS

NAMES = st.text(alphabet="ab|%.$-中 ", max_size=4)
COUNTS = st.dictionaries(st.sampled_from(COUNTERS), st.integers(-(2**40), 2**40), min_size=1)


@given(st.dictionaries(st.tuples(NAMES, NAMES), COUNTS, max_size=12))
def test_rows_read_back_as_written_sorted_by_name_without_zero_rows(deltas: dict[packed.Row, dict[str, int]]) -> None:
    rows, matrix = packed.added([], np.zeros((0, packed.WIDTH), np.int64), deltas)
    back, stored = packed.unpack(packed.pack(rows, matrix))
    as_read = {(ch, n): packed.named(row) for (ch, n), row in zip(back, stored, strict=True)}
    assert as_read == {r: {k: v for k, v in c.items() if v} for r, c in deltas.items() if any(c.values())}
    assert [r[1] for r in back] == sorted(r[1] for r in back)  # one name's rows are found by bisection
    for name in {n for _ch, n in deltas}:
        mine, _ = packed.of_name(back, stored, name)
        assert {(ch, n) for ch, n in mine} == {r for r in as_read if r[1] == name}


def test_counters_beyond_int32_are_stored_whole_and_a_row_added_to_zero_is_dropped() -> None:
    rows, matrix = packed.added([], np.zeros((0, packed.WIDTH), np.int64),
                                {("", "center"): {"logged_ms": 5_760_000_000}, ("sms", "q"): {"offered": 2}})
    back, stored = packed.unpack(packed.pack(rows, matrix))
    rows, matrix = packed.added(back, stored, {("sms", "q"): {"offered": -2}})
    back, stored = packed.unpack(packed.pack(rows, matrix))
    assert back == [["", "center"]] and packed.named(stored[0]) == {"logged_ms": 5_760_000_000}


def test_a_matrix_written_with_fewer_counters_reads_with_the_new_ones_at_zero() -> None:
    width = packed.WIDTH - 2  # as a version that knew two counters fewer wrote it
    names = b'[["sms","support"]]'
    mask = np.zeros(width, bool)
    mask[[0, 1]] = True
    blob = (struct.pack("<BHIIB", packed.FORMAT, width, 1, len(names), 4) + names + np.packbits(mask).tobytes()
            + np.array([3, 2], "<i4").tobytes())
    rows, matrix = packed.unpack(blob)
    assert rows == [["sms", "support"]] and matrix.shape == (1, packed.WIDTH)
    assert packed.named(matrix[0]) == {COUNTERS[0]: 3, COUNTERS[1]: 2}
