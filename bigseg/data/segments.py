"""The latent customer segments the synthetic generator plants.

Each profile names a case from the seed document (high-frequency loyalists, new and
potential customers, lapsed/churned customers, high-net-worth customers, price-seekers
vs brand-seekers, omnichannel vs single-channel customers) and fixes how its customers
behave. The profiles are far apart on simple per-customer aggregates (purchase
frequency, spend per purchase, recency, tenure, discount share, channels used, event
mix), so a k-means on such aggregates should recover them: that is the generator's
acceptance test.

SyntheticConfig.n_segments takes the first n profiles, in this order.
"""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("store", "web", "app")
# Event types a customer's own activity draws from (SegmentProfile.event_weights, in this
# order), then the retailer's email sends (generated at SyntheticConfig.email_sends_per_year,
# not drawn): EVENT_TYPES is every type the generated events table holds.
ACTIVITY_EVENT_TYPES = (
    "view", "search", "add_to_cart", "login", "call", "email_open", "email_click",
)
EMAIL_SEND = "email_send"
EVENT_TYPES = (*ACTIVITY_EVENT_TYPES, EMAIL_SEND)
CATEGORIES = ("grocery", "fashion", "electronics", "home", "beauty", "sports", "books", "toys")
EDUCATION = ("secondary", "vocational", "bachelor", "master", "doctorate")


@dataclass(frozen=True)
class SegmentProfile:
    """How the customers of one planted segment behave (means; draws vary around them)."""

    name: str
    # Relative prevalence among customers.
    weight: float
    # Purchases per year while active, and mean amount per purchase.
    tx_per_year: float
    amount: float
    # Share of purchases with a discount, and the mean discount when there is one.
    discount_share: float
    discount_depth: float
    # Active part of the data period, as fractions [from, to] of it.
    active: tuple[float, float]
    # Probability of using each of CHANNELS; a customer with none gets one at random.
    channel_prob: tuple[float, float, float]
    events_per_year: float
    # Weights of ACTIVITY_EVENT_TYPES.
    event_weights: tuple[float, ...]
    category_weights: tuple[float, ...]
    return_share: float
    age: float
    income: float
    # Survey score means: price sensitivity, brand loyalty, eco consciousness, tech affinity.
    survey: tuple[float, float, float, float]
    # Campaign conversion without treatment, and the uplift treatment adds (per campaign,
    # cycled). Some (segment, campaign) pairs have no planted effect (uplift 0.0, listed in
    # ZERO_UPLIFT), so that "not flagged significant" can be tested.
    base_conversion: float
    uplift: tuple[float, ...]


SEGMENTS: tuple[SegmentProfile, ...] = (
    SegmentProfile(
        name="loyal_high_frequency",
        weight=0.15,
        tx_per_year=30.0,
        amount=45.0,
        discount_share=0.1,
        discount_depth=0.1,
        active=(0.0, 1.0),
        channel_prob=(1.0, 0.0, 1.0),
        events_per_year=10.0,
        event_weights=(3, 1, 2, 4, 0.2, 1, 0.5),
        category_weights=(5, 1, 1, 2, 2, 1, 1, 1),
        return_share=0.02,
        age=45,
        income=55_000,
        survey=(2.5, 4.3, 3.0, 3.0),
        base_conversion=0.30,
        uplift=(0.05, 0.10),
    ),
    SegmentProfile(
        name="new_potential",
        weight=0.20,
        tx_per_year=10.0,
        amount=35.0,
        discount_share=0.3,
        discount_depth=0.15,
        active=(0.9, 1.0),
        channel_prob=(0.2, 0.7, 0.5),
        events_per_year=60.0,
        event_weights=(6, 4, 2, 2, 0.2, 1, 1),
        category_weights=(1, 2, 2, 1, 2, 2, 1, 1),
        return_share=0.03,
        age=29,
        income=42_000,
        survey=(3.2, 2.2, 3.2, 4.0),
        base_conversion=0.08,
        uplift=(0.15, 0.12),
    ),
    SegmentProfile(
        name="lapsed_churned",
        weight=0.20,
        tx_per_year=8.0,
        amount=40.0,
        discount_share=0.15,
        discount_depth=0.15,
        active=(0.0, 0.35),
        channel_prob=(0.7, 0.4, 0.1),
        events_per_year=6.0,
        event_weights=(2, 1, 0.5, 0.5, 1, 3, 0.3),
        category_weights=(3, 2, 1, 2, 1, 1, 2, 1),
        return_share=0.05,
        age=50,
        income=48_000,
        survey=(3.0, 2.0, 2.8, 2.2),
        base_conversion=0.02,
        uplift=(0.01, 0.0),
    ),
    SegmentProfile(
        name="high_net_worth",
        weight=0.10,
        tx_per_year=6.0,
        amount=420.0,
        discount_share=0.02,
        discount_depth=0.05,
        active=(0.0, 1.0),
        channel_prob=(0.8, 0.5, 0.3),
        events_per_year=12.0,
        event_weights=(3, 1, 1, 1, 2, 1, 0.5),
        category_weights=(0.5, 4, 4, 3, 2, 1, 1, 0.5),
        return_share=0.04,
        age=52,
        income=180_000,
        survey=(1.5, 4.0, 3.8, 3.5),
        base_conversion=0.12,
        uplift=(0.0, 0.20),
    ),
    SegmentProfile(
        name="price_seeker",
        weight=0.20,
        tx_per_year=12.0,
        amount=25.0,
        discount_share=0.85,
        discount_depth=0.35,
        active=(0.0, 1.0),
        channel_prob=(0.3, 0.8, 0.4),
        events_per_year=40.0,
        event_weights=(4, 5, 2, 1, 0.2, 6, 5),
        category_weights=(4, 2, 1, 2, 1, 1, 1, 2),
        return_share=0.03,
        age=35,
        income=35_000,
        survey=(4.6, 1.6, 2.5, 3.2),
        base_conversion=0.10,
        uplift=(0.25, 0.02),
    ),
    SegmentProfile(
        name="omnichannel",
        weight=0.15,
        tx_per_year=14.0,
        amount=70.0,
        discount_share=0.15,
        discount_depth=0.15,
        active=(0.0, 1.0),
        channel_prob=(1.0, 1.0, 1.0),
        events_per_year=120.0,
        event_weights=(5, 3, 3, 4, 0.5, 2, 2),
        category_weights=(2, 2, 2, 2, 2, 2, 1, 1),
        return_share=0.06,
        age=38,
        income=75_000,
        survey=(2.8, 3.2, 3.5, 4.5),
        base_conversion=0.18,
        uplift=(0.08, 0.08),
    ),
    SegmentProfile(
        name="single_channel_brand_seeker",
        weight=0.12,
        tx_per_year=5.0,
        amount=90.0,
        discount_share=0.0,
        discount_depth=0.0,
        active=(0.0, 1.0),
        channel_prob=(0.0, 0.0, 0.0),
        events_per_year=3.0,
        event_weights=(1, 1, 0.5, 0.5, 0.5, 1, 0.2),
        category_weights=(1, 3, 2, 2, 3, 1, 1, 1),
        return_share=0.01,
        age=47,
        income=65_000,
        survey=(1.8, 4.7, 3.0, 2.5),
        base_conversion=0.05,
        uplift=(-0.02, 0.06),
    ),
)

SEGMENT_NAMES: tuple[str, ...] = tuple(s.name for s in SEGMENTS)
# (segment, campaign index) pairs whose planted uplift is exactly 0: no effect to find.
ZERO_UPLIFT: tuple[tuple[str, int], ...] = tuple(
    (s.name, c) for s in SEGMENTS for c, up in enumerate(s.uplift) if up == 0.0
)


def planted(n_segments: int) -> tuple[SegmentProfile, ...]:
    """The first ``n_segments`` profiles; a ValueError gives the allowed range."""
    if not 1 <= n_segments <= len(SEGMENTS):
        raise ValueError(f"n_segments={n_segments} should be within [1, {len(SEGMENTS)}]")
    return SEGMENTS[:n_segments]


def segment_index(name: str, n_segments: int) -> int:
    """Position of the planted segment ``name`` among the first ``n_segments``."""
    names = SEGMENT_NAMES[:n_segments]
    if name not in names:
        raise ValueError(f"segment {name!r} is not a planted segment; expected one of {list(names)}")
    return names.index(name)
