"""Typed configuration: one dataclass per Hydra config group, registered in the ConfigStore.

Every YAML file under ``bigseg/conf/<group>/`` extends the schema registered here for its
group (``defaults: [base_<group>]``), so a misspelt key or a value of the wrong type fails
when Hydra composes the config, with Hydra's message naming the key, before any Spark or
MLflow work starts.

Library code receives these dataclasses (``to_typed(cfg)``), never raw DictConfig objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

# Hydra searches this package for the YAML files; `conf/` at the repository root points here.
CONFIG_MODULE = "bigseg.conf"


def _abspath(path: str) -> str:
    """Resolve a path against the working directory once, at compose time.

    Hydra runs with version_base="1.3" and does not chdir; resolving here means the
    Python driver and the JVM (which may be started from another directory by
    spark-submit) always agree on where outputs go.
    """
    return str(Path(path).expanduser().resolve())


if not OmegaConf.has_resolver("abspath"):
    OmegaConf.register_new_resolver("abspath", _abspath)


@dataclass
class PathsConfig:
    """Where bigseg writes. Every path is absolute after composition."""

    root: str = "${abspath:${oc.env:BIGSEG_HOME,outputs}}"
    data: str = "${paths.root}/data"
    features: str = "${paths.root}/features"
    models: str = "${paths.root}/models"
    segments: str = "${paths.root}/segments"
    quarantine: str = "${paths.root}/quarantine"
    reports: str = "${paths.root}/reports"
    mlflow: str = "${paths.root}/mlflow"


@dataclass
class SparkConfig:
    """How to obtain the SparkSession.

    ``master`` is null by default so that ``spark-submit --master`` wins; run directly
    with python, a null master means ``local[*]``.
    """

    master: str | None = None
    app_name: str = "bigseg"
    # 100k rows per Arrow batch measured best for array<float> feature columns.
    arrow_max_records_per_batch: int = 100_000
    driver_memory: str | None = None
    shuffle_partitions: int | None = None
    log_level: str = "WARN"
    # null: off when the CI environment variable is set, Spark's default otherwise.
    show_progress: bool | None = None
    # Interpreter for executors on local and standalone masters; null pins the
    # driver's own interpreter so executors never pick up a different python3.
    python: str | None = None
    # Passed through to SparkSession.builder.config(...). Keys may be dotted
    # ("spark.executor.memory": 8g, as in the YAML templates) or nested, which is what a
    # command-line override makes: +spark.conf.spark.executor.memory=8g.
    conf: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromotionGatesConfig:
    """Gates a segment version passes to become ``champion`` (null: gate off).

    Each failed gate is recorded on the version as a tag with its reason.
    """

    # Adjusted Rand index against the current champion, on the customers in both.
    min_stability_ari: float | None = None
    # Every segment holds at least this share of the customers.
    min_segment_share: float | None = 0.01
    # No segment holds more than this share of the customers.
    max_segment_share: float | None = None
    # Quality metrics of the training run: {metric name: minimum}, e.g. {quality/silhouette: 0.1}.
    min_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrackingConfig:
    """MLflow tracking. A null uri means a local SQLite store under paths.mlflow."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "bigseg"
    registered_model: str = "bigseg-segments"
    artifact_location: str | None = None
    # Seconds the reachability probe of a tracking server waits before the job fails.
    timeout_s: float = 10.0
    # Root of the immutable segment assignment tables; null: paths.segments.
    segments_path: str | None = None
    # Segments of a new version whose centroid lies further than this from every
    # previous centroid (euclidean, in the previous version's feature space) get new
    # ids; null: every segment is matched while the previous version has one left.
    match_max_distance: float | None = None
    # Alias a new version gets, and the alias promotion moves to it.
    challenger_alias: str = "challenger"
    champion_alias: str = "champion"
    # Move champion to a new version when the promotion gates pass (false: only record
    # the gates' verdict; promote later by hand).
    promote: bool = True
    promotion: PromotionGatesConfig = field(default_factory=PromotionGatesConfig)


@dataclass
class TableSourceConfig:
    """One input table of the data contract (see bigseg.io.contracts and bigseg.io.readers)."""

    # A file or a directory of files; local paths, hdfs://, s3a://, ... as Spark reads them.
    path: str | None = None
    # parquet | csv | json | orc | whitespace (whitespace-separated text with a header line).
    format: str = "parquet"
    # A table in the Spark catalog instead of files (path is then ignored).
    table: str | None = None
    # Reader options passed to spark.read.options(...), e.g. header/sep for CSV.
    options: dict[str, str] = field(default_factory=dict)
    # From the user's column names to the contract's: {their_name: contract_name}.
    columns: dict[str, str] = field(default_factory=dict)
    # Contract columns the source lacks, filled with one value, e.g. {channel: web}.
    constants: dict[str, str] = field(default_factory=dict)
    # A contract key column the source lacks, filled with the row's position in the input
    # (0, 1, ...; deterministic for the same files), e.g. CDNOW's transaction_id.
    row_id: str | None = None
    # Spark datetime pattern for text timestamps/dates (e.g. yyyyMMdd); null: ISO 8601.
    timestamp_format: str | None = None
    # Time zone of timestamps written without an offset; they are converted to UTC.
    timezone: str = "UTC"
    required: bool = True


@dataclass
class SyntheticConfig:
    """The synthetic multi-channel generator (bigseg.data.synthetic)."""

    n_customers: int = 20_000
    # The first n_segments planted segments of bigseg.data.segments.SEGMENTS are used.
    n_segments: int = 6
    seed: int = 7
    start: str = "2024-01-01"
    end: str = "2025-12-31"
    # Spark partitions of the generated tables; null: spark.sparkContext.defaultParallelism.
    # The rows do not depend on it.
    partitions: int | None = None
    # Share of rows of every table turned into bad rows (each kind of rule violation), so
    # that validation and quarantine run on every synthetic run; 0 gives clean data.
    dirty_share: float = 0.01
    # Multiplies every segment's transaction and event rates (scales rows per customer).
    activity_scale: float = 1.0
    # Share of customers with psychographic survey scores.
    survey_share: float = 0.3
    n_campaigns: int = 2
    # Share of each campaign's population that is treated (the rest is the control group).
    treated_share: float = 0.5
    # Marketing emails sent per customer and year while the customer is active (the
    # denominator of open rates; events of type email_send); 0: none.
    email_sends_per_year: float = 24.0
    # Planted drift: customers moving between planted segments (PlantedMigrationConfig,
    # defined with the effects configs below); empty: no drift.
    migrations: list[PlantedMigrationConfig] = field(default_factory=list)


@dataclass
class SourceConfig:
    """Where the input tables come from: generated, the bundled CDNOW sample, or files."""

    # synthetic | cdnow | files
    kind: str = "synthetic"
    customers: TableSourceConfig = field(default_factory=TableSourceConfig)
    identities: TableSourceConfig = field(default_factory=TableSourceConfig)
    transactions: TableSourceConfig = field(default_factory=TableSourceConfig)
    events: TableSourceConfig = field(
        default_factory=lambda: TableSourceConfig(required=False)
    )
    campaign_outcomes: TableSourceConfig = field(
        default_factory=lambda: TableSourceConfig(required=False)
    )
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    # A job fails when more than this share of a table's rows is quarantined.
    max_quarantine_share: float = 0.05
    # Timestamps after this instant are quarantined as future; null: the time of the run.
    as_of: str | None = None


@dataclass
class FeaturesConfig:
    """Per-customer feature building (bigseg.features.build.build_features).

    Levels (sales channels, categories, event types, one-hot values) that are null are
    discovered from the data when features are fitted and then recorded in the feature
    metadata, so applying that metadata to new customers uses the same columns.
    """

    # Point in time (YYYY-MM-DD, UTC midnight): only rows strictly before it count.
    # null: today (UTC) at the time of the run.
    as_of: str | None = None
    # Trailing windows (days before as_of) for counts, revenue and engagement.
    windows_days: list[int] = field(default_factory=lambda: [30, 90, 365])
    # Trend = last `trend_recent_days` against the `trend_base_days` before them.
    trend_recent_days: int = 30
    trend_base_days: int = 90
    # Category revenue shares for the top N categories by revenue (the rest: "other").
    top_categories: int = 5
    categories: list[str] | None = None
    channels: list[str] | None = None
    event_types: list[str] | None = None
    # One-hot columns keep at most this many values per column (the rest: "other").
    max_levels: int = 20
    email_send_event: str = "email_send"
    email_open_event: str = "email_open"
    email_click_event: str = "email_click"
    # Call-centre contacts: events of these types or on these channels.
    call_event_types: list[str] = field(default_factory=lambda: ["call"])
    call_channels: list[str] = field(default_factory=lambda: ["call_centre"])
    # Upper bounds (exclusive) of the age bands; below the first and above the last too.
    age_bands: list[int] = field(default_factory=lambda: [25, 35, 45, 55, 65])
    # Education levels from lowest to highest (ordinal 0, 1, ...).
    education_levels: list[str] = field(
        default_factory=lambda: ["secondary", "vocational", "bachelor", "master", "doctorate"]
    )
    rfm_bins: int = 5
    # Relative error of the approximate quantiles (RFM cut points, medians, robust scaler).
    quantile_accuracy: int = 10_000
    clv: bool = True
    clv_horizon_days: int = 365
    clv_step_days: int = 30
    # Discount rate per clv step (e.g. 0.01 per month).
    clv_discount_rate: float = 0.0
    # Gamma-Gamma fit groups customers by (x, mean spend rounded to this relative step).
    clv_spend_precision: float = 1e-3
    # BG/NBD fit groups customers by (x, t_x, T) with times in bins of this many days,
    # at the bins' mean times (1 = exact; 7 bounds the tuples for long histories).
    # Scoring uses exact times.
    clv_time_step_days: int = 1
    # standard | robust | none (scaling of numeric features; binary ones stay 0/1).
    scaler: str = "standard"
    log1p: bool = True
    # Feature groups in the `features` vector, and a weight per group (default 1).
    groups: list[str] = field(
        default_factory=lambda: [
            "behaviour", "channel", "engagement", "value",
            "demographic", "geographic", "psychographic",
        ]
    )
    group_weights: dict[str, float] = field(default_factory=dict)
    # Divide each group's weight by sqrt(its number of columns), so large groups do not
    # dominate distances only because they have more columns.
    balance_groups: bool = False
    # Project the weighted, scaled vector on this many principal components (null: off).
    pca_components: int | None = None
    # Content digests (row count + order-independent hash) of the input tables.
    digest_inputs: bool = True


@dataclass
class ModelConfig:
    """The k-means segment model (bigseg.kmeans / bigseg.spark)."""

    # null: the k sweep (segments.sweep) recommends k.
    k: int | None = 8
    max_iter: int = 20
    tol: float = 1e-4
    seed: int = 42
    distance: str = "euclidean"
    init: str = "k-means||"
    init_steps: int = 2
    assignment: str = "auto"
    # auto: faiss-gpu, else torch on CUDA, else faiss-cpu, chosen on each executor task.
    backend: str = "auto"
    # An executor where an explicitly requested GPU backend cannot run: "cpu" runs
    # faiss-cpu there with a logged reason; "error" fails the fit naming the executors.
    backend_fallback: str = "cpu"
    num_workers: int | None = None
    handle_invalid: str = "error"


@dataclass
class RuleSetConfig:
    """One rule-based segmentation (bigseg.segments.rules), a file under conf/segments/rules/.

    ``inputs`` maps the names the rules use to columns of the customer table (or SQL
    expressions over them), so one rule file works whatever the feature table calls its
    columns. ``segments``: ``[{name, when, action}]`` where ``when`` is a condition tree
    (see bigseg.segments.conditions). ``kind: grid`` instead crosses ``dimensions``
    (``[{input, bands, labels}]``), e.g. age band x region.
    """

    name: str = ""
    description: str = ""
    # rules | grid
    kind: str = "rules"
    inputs: dict[str, str] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    # exclusive: every customer must match exactly one rule; first: the first match wins
    # (overlaps are then reported, never an error).
    resolve: str = "exclusive"
    # Segment for customers no rule matches (null: they are uncovered).
    otherwise: str | None = None
    # null: SegmentsConfig.allow_uncovered / allow_overlap.
    allow_uncovered: bool | None = None
    allow_overlap: bool | None = None
    # Output column of the segment name (null: "segment_<name>").
    output_col: str | None = None


@dataclass
class SweepConfig:
    """Choosing k (bigseg.evaluation.ksweep): a sweep over k_min..k_max and several seeds."""

    k_min: int = 2
    k_max: int = 12
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    max_iter: int = 20
    # Rows whose silhouette is computed (a bounded, hash-chosen sample).
    silhouette_sample: int = 2000
    # The recommended k is the one with the best silhouette among those whose mean ARI
    # between seeds is at least this (smallest k on ties).
    min_stability: float = 0.8


@dataclass
class BehaviouralConfig:
    """Behavioural k-means segments on chosen feature columns and group weights."""

    # Named columns per feature group, and a weight per group (default 1). Empty: the
    # feature table's `features` vector is used as it is.
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_weights: dict[str, float] = field(default_factory=dict)
    features_col: str = "features"
    # null: the sweep's recommended k.
    k: int | None = None
    # Second level: this many micro segments inside each macro segment (null: none).
    micro_k: int | None = None
    seed: int = 0
    max_iter: int = 20
    # Column of the (macro) segment id in the output.
    output_col: str = "segment"


@dataclass
class ProfileConfig:
    """Segment profiles (bigseg.segments.profiles) and their generated names."""

    features: list[str] = field(default_factory=lambda: [
        "recency_days", "frequency", "monetary", "aov", "tenure_days", "discount_share",
        "n_sales_channels", "clv_p_alive", "clv_value",
    ])
    revenue_col: str | None = "monetary"
    # Columns reported as the channel mix (mean share per segment).
    channel_prefix: str = "channel_share_"
    # Features shown as distinguishing, and the number of words in a generated name.
    top_n: int = 3
    name_words: int = 2
    # A feature lifts a segment "high" at index >= high_index, "low" at <= low_index.
    high_index: float = 125.0
    low_index: float = 80.0
    # Words for names: {feature: {high: "...", low: "..."}}; unknown: "high <feature>".
    vocabulary: dict[str, dict[str, str]] = field(default_factory=dict)
    # Names set by hand, by segment id; they win over generated names.
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class SegmentsConfig:
    """Segmentations (bigseg.segments): rule sets, behavioural k-means, profiles, actions."""

    # Rule sets to run, by key of ``rulesets``.
    rules: list[str] = field(default_factory=lambda: ["rfm", "value_tier", "lifecycle"])
    rulesets: dict[str, RuleSetConfig] = field(default_factory=dict)
    allow_uncovered: bool = False
    allow_overlap: bool = False
    min_segment_share: float = 0.01
    # Rows shown as examples when a rule table leaves customers uncovered or overlapping.
    examples: int = 5
    sweep: SweepConfig = field(default_factory=SweepConfig)
    behavioural: BehaviouralConfig = field(default_factory=BehaviouralConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    # Playbook: [{action, segment | name_contains | trait: {feature: high|low}}], first
    # match wins; templates may use {name}, {segment}, {top_feature}.
    playbook: list[dict[str, Any]] = field(default_factory=list)
    default_action: str = "monitor"
    # Audience exports: parquet and/or csv.
    audience_formats: list[str] = field(default_factory=lambda: ["parquet", "csv"])


@dataclass
class InputsConfig:
    """What a job reads that an earlier job wrote (bigseg.tasks)."""

    # A features table written by build_features (a folder with _feature_metadata.json);
    # null: the newest under paths.features.
    features: str | None = None
    # The segment version that assign and profile use: a version number or an alias.
    version: str = "champion"


@dataclass
class CompareConfig:
    """What the compare job puts side by side (bigseg.tracking.compare)."""

    # MLflow run ids; empty: none.
    runs: list[str] = field(default_factory=list)
    # Segment versions (numbers or aliases) of tracking.registered_model; with neither
    # runs nor versions: the newest `last` committed versions and the runs that made them.
    versions: list[str] = field(default_factory=list)
    last: int = 2
    # Where the tables and heatmaps go; null: paths.reports/compare/<timestamp>.
    out: str | None = None


@dataclass
class DoctorConfig:
    """Knobs of `bigseg doctor`."""

    check_executors: bool = True
    check_mlflow: bool = True
    # Number of tasks in the executor probe; null = spark.sparkContext.defaultParallelism.
    probe_tasks: int | None = None
    # The probe waits this long for executors before it reports a failure.
    timeout_s: int = 120


# ---- effects and dynamic segmentation (issue #9) ------------------------------------------


@dataclass
class PlantedMigrationConfig:
    """A planted move between two segments of the synthetic generator (by profile name)."""

    from_segment: str = ""
    to_segment: str = ""
    # Share of the from_segment's customers that move.
    rate: float = 0.0
    # The day they move (YYYY-MM-DD); null: spread uniformly over the data period.
    at: str | None = None


@dataclass
class EffectsConfig:
    """Campaign effect evaluation per segment (bigseg.effects.lift)."""

    # Where the customers' segments come from: version (a segment version of
    # tracking.registered_model), path (a table with customer_id and segment_col), or
    # ground_truth (the synthetic generator's planted segments).
    segments_from: str = "version"
    # Version number or alias, for segments_from=version.
    version: str = "champion"
    segments_path: str | None = None
    segment_col: str = "segment_id"
    # Column with the segments' names (null: the ids are the names).
    name_col: str | None = "segment_name"
    # Campaign ids to evaluate; empty: every campaign in the outcomes.
    campaigns: list[str] = field(default_factory=list)
    # Significance level: intervals are at 1 - alpha, lifts flagged when the interval of
    # the difference excludes 0.
    alpha: float = 0.05
    # Fewer treated or control customers than this: the segment is "insufficient".
    min_per_arm: int = 100
    # Cost of contacting one treated customer (ROI = (incremental revenue - cost) / cost).
    cost_per_contact: float = 0.0
    # Poisson bootstrap of revenue per customer (replicates; seed makes it reproducible).
    bootstrap_replicates: int = 200
    bootstrap_seed: int = 0
    # Where the table and plot go; null: paths.reports/effects/<run id or time>.
    out: str | None = None


@dataclass
class DynamicConfig:
    """Segmentation as of a series of dates (bigseg.effects.dynamic)."""

    # The dates (YYYY-MM-DD); empty: from start to end every every_days days.
    dates: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    every_days: int | None = None
    # Registered model holding the versions (kept apart from the production segments).
    registered_model: str = "bigseg-segments-dynamic"
    # false: the features are fitted at the first date and applied as they are later
    # (one feature space: centroids comparable, warm start meaningful).
    refit_features: bool = False
    # Start each date's k-means from the previous date's centroids.
    warm_start: bool = True
    # Feature column of customer lifetime value attached to migration paths.
    clv_col: str = "clv_value"
    # A segment grows (shrinks) when its size changes by more than this share.
    growth_threshold: float = 0.1
    # Where tables and plots go; null: paths.reports/dynamic/<run id or time>.
    out: str | None = None


ConfigStore.instance().store(group="effects", name="base_effects", node=EffectsConfig)
ConfigStore.instance().store(group="dynamic", name="base_dynamic", node=DynamicConfig)


@dataclass
class BigsegConfig:
    """The root config every job composes (conf/<job>.yaml sets its defaults)."""

    job: str = "pipeline"
    paths: PathsConfig = field(default_factory=PathsConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    doctor: DoctorConfig = field(default_factory=DoctorConfig)
    inputs: InputsConfig = field(default_factory=InputsConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)


GROUP_SCHEMAS: dict[str, type] = {
    "paths": PathsConfig,
    "spark": SparkConfig,
    "tracking": TrackingConfig,
    "source": SourceConfig,
    "features": FeaturesConfig,
    "model": ModelConfig,
    "segments": SegmentsConfig,
}


def register_configs() -> None:
    """Register the root schema and one ``base_<group>`` schema per config group."""
    cs = ConfigStore.instance()
    cs.store(name="base_bigseg", node=BigsegConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)


register_configs()


def to_typed(cfg: DictConfig | BigsegConfig) -> BigsegConfig:
    """Turn a composed DictConfig into the typed dataclass tree, interpolations resolved."""
    if isinstance(cfg, BigsegConfig):
        return cfg
    merged = OmegaConf.merge(OmegaConf.structured(BigsegConfig), cfg)
    OmegaConf.resolve(merged)
    typed = OmegaConf.to_object(merged)
    if not isinstance(typed, BigsegConfig):  # pragma: no cover - schema invariant
        raise TypeError(f"expected a BigsegConfig, got {type(typed).__name__}")
    # An override such as paths.root=out replaces the resolver; absolute paths either way.
    for name in PathsConfig.__dataclass_fields__:
        setattr(typed.paths, name, _abspath(getattr(typed.paths, name)))
    return typed


def compose(job: str = "pipeline", overrides: list[str] | None = None) -> BigsegConfig:
    """Compose ``conf/<job>.yaml`` with overrides, as a job would, and return it typed.

    For tests and for code that drives bigseg without ``@hydra.main``.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = hydra_compose(config_name=job, overrides=list(overrides or []))
    return to_typed(cfg)


def to_flat_dict(cfg: BigsegConfig) -> dict[str, Any]:
    """Flatten the config to ``{"model.k": 8, ...}`` (MLflow params, logs)."""
    container = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = node

    walk("", container)
    return flat


def in_ci() -> bool:
    """True when the CI environment variable says we run in CI."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
