"""Importable task functions: what jobs call and what tests drive directly.

Each takes the typed config (bigseg.config.BigsegConfig) and, optionally, a SparkSession,
and returns a small result object. A job file turns Hydra's config into one such call.
"""
