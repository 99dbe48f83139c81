"""PostgreSQL's binary COPY format, built with numpy.

Binary COPY hands the server values exactly as it stores them: no text to format in
Python and none to parse in PostgreSQL. A thousand-element float or timestamp array
costs microseconds this way, where its text literal cost milliseconds on both sides.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from uuid import UUID

import numpy as np

# PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00 UTC.
PG_EPOCH_US = 946_684_800 * 1_000_000
FLOAT8_OID = 701
TIMESTAMPTZ_OID = 1184
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def copy_data(rows: Sequence[Sequence[bytes]]) -> bytes:
    """A whole COPY … FROM STDIN WITH (FORMAT binary) stream of rows of encoded fields."""
    parts = [COPY_HEADER]
    for fields in rows:
        parts.append(len(fields).to_bytes(2, "big"))
        parts.extend(fields)
    parts.append(COPY_TRAILER)
    return b"".join(parts)


def _field(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def uuid_field(value: UUID) -> bytes:
    return _field(value.bytes)


def text_field(value: str) -> bytes:
    return _field(value.encode())


def int4_field(value: int) -> bytes:
    return _field(int(value).to_bytes(4, "big", signed=True))


def float8_field(value: float) -> bytes:
    return _field(struct.pack(">d", value))


def float8_array_field(values: np.ndarray) -> bytes:
    """A one-dimensional float8[] without NULLs (NaN is a value, stored as NaN)."""
    return _array_field(np.asarray(values, dtype=np.float64), FLOAT8_OID, ">f8")


def timestamptz_array_field(epoch_us: np.ndarray) -> bytes:
    """A one-dimensional timestamptz[] from microseconds since the Unix epoch (UTC)."""
    return _array_field(np.asarray(epoch_us, dtype=np.int64) - PG_EPOCH_US, TIMESTAMPTZ_OID, ">i8")


def _array_field(values: np.ndarray, oid: int, element: str) -> bytes:
    if values.ndim != 1:
        raise ValueError(f"only one-dimensional arrays are encoded, got shape {values.shape}")
    if not len(values):
        # An empty array has no dimensions: ndim 0, no NULLs, the element type.
        return _field(np.array([0, 0, oid], dtype=">i4").tobytes())
    # ndim, has_null, element type, then (length, lower bound) of the one dimension;
    # then every element as (byte length, value).
    header = np.array([1, 0, oid, len(values), 1], dtype=">i4").tobytes()
    elements = np.empty(len(values), dtype=[("length", ">i4"), ("value", element)])
    elements["length"] = np.dtype(element).itemsize
    elements["value"] = values
    return _field(header + elements.tobytes())
