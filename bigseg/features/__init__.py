"""Per-customer features: identity resolution, windowed behaviour, RFM, CLV, transforms."""
