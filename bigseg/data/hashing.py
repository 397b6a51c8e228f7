"""Deterministic pseudo-random numbers as Spark column expressions.

Every random draw is a hash of (seed, a salt naming the draw, the row's identity), so
a value depends only on which row it is, never on partitioning, task order or retries:
the same seed gives the same tables on 1 or 1,000 partitions. No Python UDFs: the
expressions run in the JVM.
"""

from __future__ import annotations

import hashlib
import math
from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F

# 53 bits: the mantissa of a double, so every value is exact and in [0, 1).
_BITS = 53
_SCALE = float(2**_BITS)


def stream(seed: int, salt: str) -> int:
    """A signed 64-bit constant naming one random stream (seed x draw name).

    Computed once on the driver so each row hashes only numbers, not the salt string.
    """
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def uniform(seed: int, salt: str, *keys: Column | str) -> Column:
    """A U[0, 1) draw for the row identified by ``keys`` (columns or column names)."""
    h = F.xxhash64(F.lit(stream(seed, salt)), *keys)
    return F.shiftrightunsigned(h, 64 - _BITS).cast("double") / F.lit(_SCALE)


def normal(seed: int, salt: str, *keys: Column | str) -> Column:
    """A standard normal draw (Box-Muller on two independent uniforms)."""
    u1 = uniform(seed, salt + ":n1", *keys)
    u2 = uniform(seed, salt + ":n2", *keys)
    # 1 - u1 lies in (0, 1]: the log is finite.
    return F.sqrt(F.lit(-2.0) * F.log(F.lit(1.0) - u1)) * F.cos(F.lit(2 * math.pi) * u2)


def choice(u: Column, cumulative: Column, n: int) -> Column:
    """0-based index i with cumulative[i-1] <= u < cumulative[i], for ``n`` choices.

    ``cumulative`` is an array column of n running sums ending at 1. Counted with plain
    comparisons rather than a higher-order function: a lambda that captures an outer
    column (u) made Spark 4.3's planner fail on some later queries (``exceptAll``:
    "key not found: cid").
    """
    if n == 1:
        return F.lit(0)
    steps = [(u >= F.element_at(cumulative, i)).cast("int") for i in range(1, n)]
    return reduce(lambda a, b: a + b, steps)


def cumulative(weights: list[float]) -> list[float]:
    """Normalised running sums of ``weights``; the last is exactly 1."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"weights {weights} should have a positive sum")
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def table_lookup(values: list, index: Column) -> Column:
    """``values[index]`` for a small driver-side table (one entry per segment, say)."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index + 1)
