"""Feature definitions: what each column means, its group and its missing-value policy.

Every module that derives features (behaviour, engagement, value, profile) returns its
columns together with one :class:`FeatureDef` per column. The transform step
(bigseg.features.transform) reads only these definitions: it imputes, adds indicators,
applies log1p and scaling and records all of it in the feature metadata.

Missing-value policy: a feature whose raw value can be missing names an ``impute``
strategy and an ``indicator`` column (1 where the raw value was missing). Several
features may share one indicator when they are missing together for one reason (every
purchase-based ratio is missing for a customer without purchases: ``no_purchase``).
A feature that cannot be missing says ``impute="never"``; the transform step then
fails loudly instead of letting a null through.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column

GROUPS = (
    "behaviour",
    "channel",
    "engagement",
    "value",
    "demographic",
    "geographic",
    "psychographic",
)
KINDS = ("numeric", "binary")
IMPUTE = ("never", "zero", "median", "max")


@dataclass(frozen=True)
class FeatureDef:
    """One named feature column.

    ``expr`` computes the raw value (possibly null) from the per-customer aggregate
    table; it lives only on the driver and is never written to the metadata.
    ``log1p`` marks skewed non-negative money and count features. ``kind="binary"``
    columns (one-hot levels, indicators) are neither log-transformed nor scaled.
    """

    name: str
    group: str
    expr: Column
    kind: str = "numeric"
    log1p: bool = False
    impute: str = "never"
    indicator: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"feature {self.name!r}: group={self.group!r} should be one of {GROUPS}")
        if self.kind not in KINDS:
            raise ValueError(f"feature {self.name!r}: kind={self.kind!r} should be one of {KINDS}")
        if self.impute not in IMPUTE:
            raise ValueError(f"feature {self.name!r}: impute={self.impute!r} should be one of {IMPUTE}")
        if (self.impute == "never") != (self.indicator is None):
            raise ValueError(
                f"feature {self.name!r}: impute={self.impute!r} needs an indicator column "
                f"(and impute='never' none), got indicator={self.indicator!r}"
            )


def safe_name(value: object) -> str:
    """A level as a column-name fragment: lower case, [a-z0-9_] only."""
    text = str(value).strip().lower()
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in text)
    return cleaned.strip("_") or "blank"
