"""One module per suite; each has ``run(ctx) -> list[dict]`` (rows) and ``summarise(rows)``."""
