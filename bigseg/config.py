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
    # Passed through unchanged to SparkSession.builder.config(...).
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class TrackingConfig:
    """MLflow tracking. A null uri means a local SQLite store under paths.mlflow."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "bigseg"
    registered_model: str = "bigseg-segments"
    artifact_location: str | None = None


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
    # Share of rows of every table turned into bad rows (each kind of rule violation).
    dirty_share: float = 0.0
    # Multiplies every segment's transaction and event rates (scales rows per customer).
    activity_scale: float = 1.0
    # Share of customers with psychographic survey scores.
    survey_share: float = 0.3
    n_campaigns: int = 2
    # Share of each campaign's population that is treated (the rest is the control group).
    treated_share: float = 0.5


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
    """Per-customer feature building (bigseg.features)."""

    as_of: str | None = None
    windows_days: list[int] = field(default_factory=lambda: [30, 90, 365])
    top_categories: int = 5
    clv_horizon_days: int = 365
    scaler: str = "standard"
    groups: list[str] = field(
        default_factory=lambda: ["behaviour", "value", "channel", "engagement"]
    )


@dataclass
class ModelConfig:
    """The k-means segment model (bigseg.kmeans / bigseg.spark)."""

    k: int = 8
    max_iter: int = 20
    tol: float = 1e-4
    seed: int = 42
    distance: str = "euclidean"
    init: str = "k-means||"
    init_steps: int = 2
    assignment: str = "auto"
    backend: str = "auto"
    num_workers: int | None = None
    handle_invalid: str = "error"


@dataclass
class SegmentsConfig:
    """Rule-based segmentations (bigseg.segments)."""

    rules: list[str] = field(default_factory=lambda: ["rfm", "value_tier", "lifecycle"])
    allow_uncovered: bool = False
    allow_overlap: bool = False
    min_segment_share: float = 0.01


@dataclass
class DoctorConfig:
    """Knobs of `bigseg doctor`."""

    check_executors: bool = True
    check_mlflow: bool = True
    # Number of tasks in the executor probe; null = spark.sparkContext.defaultParallelism.
    probe_tasks: int | None = None
    # The probe waits this long for executors before it reports a failure.
    timeout_s: int = 120


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
