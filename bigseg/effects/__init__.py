"""What actions per segment achieved, and how segments change over time.

- bigseg.effects.intervals: Wilson intervals for rates, Newcombe's interval for their
  difference (pure numpy);
- bigseg.effects.bootstrap: a Poisson bootstrap computed as Spark aggregates;
- bigseg.effects.lift: ``evaluate_effects(outcomes, segments, cfg) -> EffectReport``;
- bigseg.effects.plots: lifts with interval bars (PNG);
- bigseg.effects.schedule, paths, dynamic: ``run_dynamic_segmentation(...)``, segment
  versions as of a series of dates, their migrations and the value of each path;
- bigseg.effects.truth: those migrations against the generator's planted drift.
"""
