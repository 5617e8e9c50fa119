"""An interval document's counters packed as one binary value: row names and the counters that are not zero."""

from __future__ import annotations

import bisect
import json
import struct

import numpy as np
import numpy.typing as npt

from omnihub.quality.rollups import COUNTERS, Counters

# Why: SecantusDB decodes and re-encodes every nested field of a document it returns; an interval document of
# nested {row: {counter: n}} costs the server ~0.1 ms per row, the same counters as one binary value ~nothing.
Matrix = npt.NDArray[np.int64]
Row = tuple[str, str]  # (channel place, name) of a bucket id "<level>|<kind>|<t>|<channel place>|<name>"

WIDTH = len(COUNTERS)
INDEX = {name: i for i, name in enumerate(COUNTERS)}
# format 1, columns (counters when written), rows, bytes of the rows' names (JSON), bytes per stored value (4 or 8)
_HEADER = struct.Struct("<BHIIB")
FORMAT = 1
_INT32 = 2**31


def pack(rows: list[Row], matrix: Matrix) -> bytes:
    """Rows and their counters (one row of `matrix` each, columns in COUNTERS order) as bytes: rows sorted by
    (name, channel), a bit per counter that is not zero, then those counters (int32 when they all fit)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][1], rows[i][0]))
    names = json.dumps([rows[i] for i in order], separators=(",", ":")).encode()
    matrix = matrix[order]
    mask = matrix != 0
    values = matrix[mask]
    wide = bool(values.size) and (int(values.max()) >= _INT32 or int(values.min()) < -_INT32)
    size = 8 if wide else 4
    return b"".join((_HEADER.pack(FORMAT, matrix.shape[1], len(rows), len(names), size), names,
                     np.packbits(mask).tobytes(), values.astype("<i8" if wide else "<i4").tobytes()))


def unpack(blob: bytes) -> tuple[list[list[str]], Matrix]:
    """The inverse of `pack`: [channel place, name] per row (sorted by name) and the counter matrix; a matrix
    written with fewer counters (by an older version) gets zero columns."""
    fmt, width, count, size, value_size = _HEADER.unpack_from(blob)
    if fmt != FORMAT:
        raise ValueError(f"unknown packed counters format {fmt}")
    at = _HEADER.size
    rows: list[list[str]] = json.loads(blob[at:at + size])
    at += size
    cells = count * width
    bits = (cells + 7) // 8
    mask = np.unpackbits(np.frombuffer(blob, np.uint8, bits, at), count=cells).view(bool).reshape(count, width)
    matrix = np.zeros((count, WIDTH), np.int64)
    values = np.frombuffer(blob, "<i8" if value_size == 8 else "<i4", offset=at + bits)
    if width == WIDTH:
        matrix[mask] = values
    else:
        matrix[:, :width][mask] = values
    return rows, matrix


def of_name(rows: list[list[str]], matrix: Matrix, name: str) -> tuple[list[list[str]], Matrix]:
    """The rows of one name (rows are sorted by name)."""
    lo = bisect.bisect_left(rows, name, key=lambda r: r[1])
    hi = bisect.bisect_right(rows, name, lo, key=lambda r: r[1])
    return rows[lo:hi], matrix[lo:hi]


def vector(counters: Counters) -> Matrix:
    """Named counters as one row (a name missing is 0)."""
    out = np.zeros(WIDTH, np.int64)
    for k, v in counters.items():
        out[INDEX[k]] = v
    return out


def named(row: Matrix) -> Counters:
    """One row as named counters, without the zero ones."""
    return {COUNTERS[i]: v for i, v in enumerate(row.tolist()) if v}


def added(rows: list[list[str]], matrix: Matrix, deltas: dict[Row, Counters]) -> tuple[list[Row], Matrix]:
    """Rows and matrix with `deltas` added (new rows appended; rows that fall to all zero dropped)."""
    names: list[Row] = [(r[0], r[1]) for r in rows]
    index = {r: i for i, r in enumerate(names)}
    new = [r for r in deltas if r not in index]
    names += new
    out = np.zeros((len(names), WIDTH), np.int64)
    out[:len(matrix)] = matrix
    for r in new:
        index[r] = len(index)
    for r, counters in deltas.items():
        i = index[r]
        for k, v in counters.items():
            out[i, INDEX[k]] += v
    keep = out.any(axis=1)
    if keep.all():
        return names, out
    return [names[i] for i in np.flatnonzero(keep)], out[keep]
