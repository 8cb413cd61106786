"""Packing a sample (one float64 per device, None for missing) into bytes and back."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence

_NAN = float("nan")


def pack(values: Sequence[float | None]) -> bytes:
    packed = array("d", [_NAN if v is None else v for v in values])
    if sys.byteorder == "big":  # stored little-endian on every machine
        packed.byteswap()
    return packed.tobytes()


def unpack(data: bytes) -> list[float | None]:
    values = array("d")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return [None if math.isnan(v) else v for v in values]
