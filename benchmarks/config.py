"""The benchmark suite's config schema, registered in Hydra's ConfigStore.

``benchmarks/conf/bench.yaml`` extends ``base_bench``; a preset (``benchmarks/conf/preset/``)
fills in the grids. A misspelt key, an unknown suite or an unknown preset fails when the
config is composed, before any Spark work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from hydra.core.config_store import ConfigStore


class Suite(str, Enum):
    kmeans = "kmeans"
    assign = "assign"
    features = "features"
    pipeline = "pipeline"
    all = "all"


class GridShape(str, Enum):
    # axes: the base point (the first value of every list) plus one axis varied at a time;
    # product: every combination of the lists.
    axes = "axes"
    product = "product"


KMEANS_SYSTEMS = ("bigseg-spark", "bigseg-core", "faiss", "sklearn", "mllib")
ASSIGN_SYSTEMS = ("bigseg-spark", "bigseg-core", "mllib")
FEATURES_SYSTEMS = ("sql", "rfm", "rfm-minimal", "features")
SPARK_SYSTEMS = frozenset({"bigseg-spark", "mllib"})


@dataclass
class KMeansSuiteConfig:
    """Lloyd iterations at tol=0 from the same initial centroids, every system on the
    same data; ``ns``/``ds``/``ks`` start with the base point."""

    systems: list[str] = field(default_factory=lambda: list(KMEANS_SYSTEMS))
    ns: list[int] = field(default_factory=lambda: [100_000])
    ds: list[int] = field(default_factory=lambda: [32])
    ks: list[int] = field(default_factory=lambda: [64])
    grid: GridShape = GridShape.axes
    iterations: int = 5
    # Fits per system and point; the one with the fastest median iteration is kept (on a
    # shared machine, another process's burst of load slows some fits, never speeds one).
    repeats: int = 1
    # Gaussian blobs the points are drawn from (bench_engine.make_blobs).
    blobs: int = 64


@dataclass
class AssignSuiteConfig:
    """Scoring throughput: one pass that labels every point with its nearest centroid."""

    systems: list[str] = field(default_factory=lambda: list(ASSIGN_SYSTEMS))
    ns: list[int] = field(default_factory=lambda: [100_000])
    ks: list[int] = field(default_factory=lambda: [64])
    d: int = 32
    grid: GridShape = GridShape.axes
    # Best of this many passes (the first pass also warms Spark's Python workers).
    repeats: int = 2


@dataclass
class FeaturesSuiteConfig:
    """bench_features' systems on the synthetic shop of ``customers`` customers."""

    systems: list[str] = field(default_factory=lambda: list(FEATURES_SYSTEMS))
    customers: int = 10_000
    activity_scale: float = 1.0
    repeats: int = 1


@dataclass
class PipelineSuiteConfig:
    """The ``pipeline`` job (bigseg/conf/pipeline.yaml) end to end, timed per stage."""

    customers: int = 3_000
    k: int = 8
    max_iter: int = 20
    # More overrides of the pipeline job's config, e.g. ["features.clv=false"].
    overrides: list[str] = field(default_factory=list)


@dataclass
class ClusterConfig:
    """The loopback standalone cluster behind a ``cluster:N`` worker spec."""

    cores_per_worker: int = 1
    worker_memory: str = "2g"
    executor_memory: str = "1536m"


@dataclass
class BenchConfig:
    """Root config of ``python -m benchmarks.run``."""

    suite: Suite = Suite.all
    # Suites that suite=all leaves out, e.g. [features, pipeline].
    skip: list[Suite] = field(default_factory=list)
    # Set by every preset file: names the result folder and the MLflow run.
    preset_name: str = "custom"
    seed: int = 0
    # Where the Spark systems run, the first being the base: "local[N]" or "cluster:N"
    # (a loopback standalone cluster of N workers, started and stopped by the runner).
    workers: list[str] = field(default_factory=lambda: ["local[2]"])
    # Thread counts for the in-process systems (bigseg-core, faiss, sklearn); empty: all
    # cores. The first is the base.
    threads: list[int] = field(default_factory=list)
    kmeans: KMeansSuiteConfig = field(default_factory=KMeansSuiteConfig)
    assign: AssignSuiteConfig = field(default_factory=AssignSuiteConfig)
    features: FeaturesSuiteConfig = field(default_factory=FeaturesSuiteConfig)
    pipeline: PipelineSuiteConfig = field(default_factory=PipelineSuiteConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    driver_memory: str = "4g"
    # null: benchmarks/results. Each run writes <results_dir>/<suite>-<preset>-<stamp>/.
    results_dir: str | None = None
    # Parquet cache of the generated shop for the features suite; null: outputs/bench-data.
    data_dir: str | None = None
    mlflow: bool = True
    # null: a SQLite store at $BIGSEG_HOME/benchmarks/mlflow.db (./outputs without
    # BIGSEG_HOME), artifacts beside it.
    tracking_uri: str | None = None
    experiment: str = "bigseg-benchmarks"
    plots: bool = True


def register_configs() -> None:
    ConfigStore.instance().store(name="base_bench", node=BenchConfig)


register_configs()
