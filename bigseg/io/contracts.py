"""The data contracts: one Spark schema per input table, every column documented.

A contract says what bigseg expects after reading, whatever the user's files look like:
readers (bigseg.io.readers) map the user's column names and types onto it, validation
(bigseg.io.validation) checks its rules row by row, and the synthetic generator
(bigseg.data.synthetic) produces exactly these schemas.

Identifiers are strings in every table: real sources key customers by cookies, device ids,
card numbers and phone numbers, and one type everywhere keeps joins free of casts.
Timestamps are UTC instants (Spark's session time zone is pinned to UTC by
bigseg.session).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


@dataclass(frozen=True)
class Reference:
    """Rows of a table must point at existing rows of another (validated) table.

    ``columns`` are this table's columns, matched position by position to
    ``target_columns`` of ``target``; a row with no match is quarantined with ``reason``.
    """

    target: str
    columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Column:
    """One contract column: name, Spark type, whether a row needs it, and its meaning."""

    name: str
    dtype: DataType
    doc: str
    required: bool = False


@dataclass(frozen=True)
class TableContract:
    """A table of the contract: its columns, key, and the tables it refers to."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    references: tuple[Reference, ...] = field(default_factory=tuple)

    @property
    def schema(self) -> StructType:
        """The Spark schema; each column's doc is kept as its ``comment`` metadata."""
        return StructType(
            [
                # Keys and required columns may still arrive null: validation, not the
                # schema, decides what happens to such rows, so every field is nullable.
                StructField(c.name, c.dtype, nullable=True, metadata={"comment": c.doc})
                for c in self.columns
            ]
        )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns a source must provide (keys included); others may be absent."""
        return [c.name for c in self.columns if c.required or c.name in self.keys]

    @property
    def time_columns(self) -> list[str]:
        """Timestamp and date columns (parsed with the source's format and time zone)."""
        return [c.name for c in self.columns if isinstance(c.dtype, (TimestampType, DateType))]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {self.column_names}")


_S, _D, _I, _F = StringType(), DateType(), IntegerType(), DoubleType()
_T, _B = TimestampType(), BooleanType()

CUSTOMERS = TableContract(
    name="customers",
    doc="One row per customer: demographic, geographic and psychographic attributes.",
    keys=("customer_id",),
    columns=(
        Column("customer_id", _S, "The customer's id, unique in this table.", required=True),
        Column("birth_date", _D, "Date of birth (either this or age, or both, may be null)."),
        Column("age", _I, "Age in whole years at the end of the data period; 0-120."),
        Column("gender", _S, "Self-reported gender: F, M, X (other) or null."),
        Column("income", _F, "Yearly household income in the data's currency."),
        Column(
            "education",
            _S,
            "Highest education: secondary, vocational, bachelor, master, doctorate.",
        ),
        Column("region", _S, "Geographic region of the customer's address."),
        Column("city", _S, "City of the customer's address."),
        Column("city_tier", _I, "City size class: 1 (largest cities) to 3 (small towns)."),
        Column("signup_date", _D, "Date the customer first registered with any channel."),
        Column(
            "survey_price_sensitivity", _F, "Survey score 1-5: buys on price; null if not surveyed."
        ),
        Column(
            "survey_brand_loyalty", _F, "Survey score 1-5: sticks to brands; null if not surveyed."
        ),
        Column(
            "survey_eco_consciousness",
            _F,
            "Survey score 1-5: cares about sustainability; null if not surveyed.",
        ),
        Column(
            "survey_tech_affinity",
            _F,
            "Survey score 1-5: early adopter of technology; null if not surveyed.",
        ),
    ),
)

IDENTITIES = TableContract(
    name="identities",
    doc="Maps each channel identity (cookie, device, loyalty card, phone, email) to a customer.",
    keys=("channel", "channel_id"),
    columns=(
        Column(
            "channel", _S, "The channel the id belongs to: store, web, app, call_centre, email, ..."
        ),
        Column(
            "channel_id",
            _S,
            "The id on that channel: loyalty card, web cookie, app device, phone, email.",
        ),
        Column("customer_id", _S, "The customer this identity belongs to.", required=True),
    ),
    references=(Reference("customers", ("customer_id",), ("customer_id",), "unknown_customer_id"),),
)

TRANSACTIONS = TableContract(
    name="transactions",
    doc="Purchases and returns on any sales channel, one row per transaction line.",
    keys=("transaction_id",),
    columns=(
        Column("transaction_id", _S, "The transaction's id, unique in this table.", required=True),
        Column("channel_id", _S, "The buyer's id on the channel (see identities).", required=True),
        Column("channel", _S, "Sales channel: store, web, app, ...", required=True),
        Column("ts", _T, "When the purchase happened (UTC).", required=True),
        Column(
            "amount",
            _F,
            "Amount paid after discount. A return has a negative amount and a negative quantity.",
            required=True,
        ),
        Column("quantity", _I, "Number of items; negative for a return."),
        Column("category", _S, "Product category."),
        Column("discount", _F, "Share of the list price taken off, 0-1 (0 = full price)."),
    ),
    references=(
        Reference(
            "identities", ("channel", "channel_id"), ("channel", "channel_id"), "unknown_channel_id"
        ),
    ),
)

EVENTS = TableContract(
    name="events",
    doc="Non-purchase interactions: views, searches, carts, logins, calls, email opens and clicks.",
    keys=("event_id",),
    columns=(
        Column("event_id", _S, "The event's id, unique in this table.", required=True),
        Column(
            "channel_id", _S, "The customer's id on the channel (see identities).", required=True
        ),
        Column("channel", _S, "Channel: web, app, call_centre, email, ...", required=True),
        Column("ts", _T, "When the event happened (UTC).", required=True),
        Column(
            "event_type",
            _S,
            "view, search, add_to_cart, login, call, email_send, email_open, email_click, ...",
            required=True,
        ),
    ),
    references=(
        Reference(
            "identities", ("channel", "channel_id"), ("channel", "channel_id"), "unknown_channel_id"
        ),
    ),
)

CAMPAIGN_OUTCOMES = TableContract(
    name="campaign_outcomes",
    doc="Who was targeted by a campaign (or held out as control) and what they did.",
    keys=("customer_id", "campaign_id"),
    columns=(
        Column("customer_id", _S, "The customer in the campaign's population."),
        Column("campaign_id", _S, "The campaign."),
        Column(
            "treated",
            _B,
            "True if the customer got the campaign, false if held out as control.",
            required=True,
        ),
        Column(
            "converted",
            _B,
            "True if the customer converted in the campaign's window.",
            required=True,
        ),
        Column("revenue", _F, "Revenue attributed to the campaign window; 0 when not converted."),
        Column("ts", _T, "When the campaign reached (or would have reached) the customer (UTC)."),
    ),
    references=(Reference("customers", ("customer_id",), ("customer_id",), "unknown_customer_id"),),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (CUSTOMERS, IDENTITIES, TRANSACTIONS, EVENTS, CAMPAIGN_OUTCOMES)
}

# Tables in dependency order: a table is validated after the tables it refers to.
TABLE_ORDER: tuple[str, ...] = tuple(CONTRACTS)


def get_contract(table: str) -> TableContract:
    """The contract of ``table``; a ValueError lists the known tables otherwise."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; the contract has {sorted(CONTRACTS)}") from None


def describe(table: str) -> str:
    """A readable description of one table's columns (for docs and error messages)."""
    contract = get_contract(table)
    lines = [f"{contract.name}: {contract.doc}", f"  key: {', '.join(contract.keys)}"]
    for c in contract.columns:
        need = "required" if c.name in contract.required_columns else "optional"
        lines.append(f"  {c.name} ({c.dtype.simpleString()}, {need}): {c.doc}")
    return "\n".join(lines)
