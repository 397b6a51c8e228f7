"""Segment versions: a registered model version plus its immutable assignment table.

Commit protocol (what makes a version visible, and why a failure leaves none):

1. the table (``customer_id, segment_id, segment_name, distance, as_of``) is written
   aside, under ``<root>/<model>/_staging/<uuid>`` (a ``_`` folder: Spark and Hive
   readers skip it, and :func:`list_segment_versions` never looks there);
2. the model version is registered (MLflow assigns its number N), tagged
   ``bigseg.segments.state=pending``;
3. the staged folder is renamed to ``<root>/<model>/version=N`` (one atomic rename on
   the same file system; refused when that folder exists, so nothing is overwritten);
4. the version is tagged with the path, row count, as_of and segment sizes, and finally
   ``state=committed``; then it gets the challenger alias.

A version counts only once committed. An exception in 1-2 removes the staged folder and
registers nothing; in 3-4 the registered version and its folder are removed again. A
process killed between steps leaves at most a staged folder or a pending version, both
invisible to readers (:func:`cleanup_staging` sweeps the former).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bigseg.tracking import names

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

COLUMNS = ("customer_id", "segment_id", "segment_name", "distance", "as_of")
STAGING = "_staging"
STATE_PENDING = "pending"
# MLflow's limit on a model-version tag value.
MAX_TAG_CHARS = 100_000


@dataclass(frozen=True)
class SegmentVersion:
    """A committed segment version as the registry describes it."""

    name: str
    version: str
    path: str
    rows: int
    as_of: str
    run_id: str | None
    sizes: dict[int, int] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def shares(self) -> dict[int, float]:
        return {k: v / self.rows for k, v in self.sizes.items()} if self.rows else {}

    def read(self, spark: SparkSession) -> DataFrame:
        return spark.read.parquet(self.path)

    def with_sizes(self, spark: SparkSession) -> SegmentVersion:
        """This version with ``sizes`` filled from the table when the tag lacked them."""
        if self.sizes:
            return self
        counted = self.read(spark).groupBy("segment_id").count().collect()
        sizes = {int(r[0]): int(r[1]) for r in counted if r[0] is not None}
        return replace(self, sizes=sizes)


# ---- file system (Hadoop's, so hdfs:// and object stores work as local paths do) --------------


class _FS:
    def __init__(self, spark: SparkSession, path: str) -> None:
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self.fs = self._Path(path).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self._Path(path)))

    def delete(self, path: str) -> None:
        self.fs.delete(self._Path(path), True)

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise FileExistsError(f"segment table {dst} exists; versions are never overwritten")
        self.fs.mkdirs(self._Path(dst).getParent())
        if not self.fs.rename(self._Path(src), self._Path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def list(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        return [s.getPath().getName() for s in self.fs.listStatus(self._Path(path))]


def model_root(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{names.clean(name).replace(' ', '_').replace('/', '_')}"


def version_path(root: str, name: str, version: str | int) -> str:
    return f"{model_root(root, name)}/version={version}"


# ---- the assignment table --------------------------------------------------------------------


def label_assignments(
    predictions: DataFrame,
    segment_ids: Sequence[int],
    segment_names: Sequence[str],
    *,
    key: str = "customer_id",
    prediction_col: str = "prediction",
    distance_col: str = "distance",
) -> DataFrame:
    """``customer_id, segment_id, segment_name, distance`` from a model's predictions
    (centroid index ``prediction``), with the version's stable ids and names."""
    from pyspark.sql import functions as F

    if len(segment_ids) != len(segment_names):
        raise ValueError(
            f"segment_ids ({len(segment_ids)}) and segment_names ({len(segment_names)}) "
            f"should have the same length"
        )
    missing = [c for c in (key, prediction_col, distance_col) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}; they have {predictions.columns}")
    ids = F.array(*[F.lit(int(i)) for i in segment_ids])
    labels = F.array(*[F.lit(str(n)) for n in segment_names])
    # element_at is 1-based; a null prediction (an invalid row) gives null id and name.
    idx = F.col(prediction_col).cast("int") + 1
    return predictions.select(
        F.col(key).alias("customer_id"),
        F.element_at(ids, idx).cast("long").alias("segment_id"),
        F.element_at(labels, idx).alias("segment_name"),
        F.col(distance_col).cast("double").alias("distance"),
    )


def _as_of(value: str | date | datetime) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ValueError(f"as_of={value!r} should be an ISO date, YYYY-MM-DD") from exc


def _check_table(assignments: DataFrame) -> None:
    missing = [c for c in COLUMNS[:-1] if c not in assignments.columns]
    if missing:
        raise ValueError(
            f"the assignment table lacks columns {missing}; it needs {list(COLUMNS[:-1])} "
            f"(as_of is added) and has {assignments.columns}"
        )


# ---- commit ----------------------------------------------------------------------------------


def commit_segment_version(
    spark: SparkSession,
    assignments: DataFrame,
    *,
    model_uri: str,
    name: str,
    root: str,
    as_of: str | date,
    client: Any,
    run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    challenger_alias: str | None = "challenger",
    before_register: Callable[[str], None] | None = None,
) -> SegmentVersion:
    """Write the assignment table and register ``model_uri`` as one version of ``name``.

    Follows the module's commit protocol. ``before_register`` is called with the staged
    path between writing the table and registering (jobs leave it None; tests use it to
    fail at the worst moment).
    """
    from pyspark.sql import functions as F

    _check_table(assignments)
    day = _as_of(as_of)
    fs = _FS(spark, root)
    staged = f"{model_root(root, name)}/{STAGING}/{uuid.uuid4().hex}"
    registered = None
    final: str | None = None
    try:
        table = assignments.select(*[F.col(c) for c in COLUMNS[:-1]]).withColumn(
            "as_of", F.lit(day).cast("date"))
        table.write.mode("errorifexists").parquet(staged)
        # Sizes from the written files (not the lazy input, which could change between
        # two evaluations): the row count is their sum.
        counted = spark.read.parquet(staged).groupBy("segment_id").count().collect()
        sizes = {int(r["segment_id"]): int(r["count"]) for r in counted
                 if r["segment_id"] is not None}
        rows = sum(int(r["count"]) for r in counted)  # rows without a segment included
        sizes_json = json.dumps(sizes, sort_keys=True)
        if before_register is not None:
            before_register(staged)
        version_tags = {**dict(tags or {}), names.TAG_STATE: STATE_PENDING}
        if run_id:
            version_tags["bigseg.run_id"] = run_id
        registered = _register(client, model_uri, name, version_tags)
        target = version_path(root, name, registered.version)
        fs.rename(staged, target)
        final = target  # ours from here on: a rollback may remove it, never before
        for key, value in {
            names.TAG_TABLE_PATH: final,
            names.TAG_TABLE_ROWS: str(rows),
            names.TAG_AS_OF: day,
            # Sizes ride along while they fit a tag (k up to several thousand);
            # beyond that, SegmentVersion.with_sizes reads them from the table.
            **({names.TAG_SIZES: sizes_json} if len(sizes_json) <= MAX_TAG_CHARS else {}),
            # Last: the version is visible from here on.
            names.TAG_STATE: names.STATE_COMMITTED,
        }.items():
            client.set_model_version_tag(name, registered.version, key, value)
    except BaseException:
        _roll_back(fs, client, name, staged, final, registered)
        raise
    if challenger_alias:
        client.set_registered_model_alias(name, challenger_alias, registered.version)
    log.info("segment version %s v%s committed: %d rows at %s", name, registered.version,
             rows, target)
    return get_segment_version(client, name, registered.version)


def _register(client: Any, model_uri: str, name: str, tags: Mapping[str, str]) -> Any:
    """``mlflow.register_model`` (which resolves ``models:/<model id>`` URIs of MLflow 3's
    logged models) against ``client``'s store rather than the process-wide one."""
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        return mlflow.register_model(model_uri, name, tags=dict(tags))
    finally:
        mlflow.set_tracking_uri(before)


def _roll_back(fs: _FS, client: Any, name: str, staged: str, final: str | None,
               registered: Any) -> None:
    """Undo a partial commit; each step is tried even if another fails."""
    for path in (staged, final):
        if path:
            try:
                if fs.exists(path):
                    fs.delete(path)
            except Exception:  # noqa: BLE001 - a staged leftover is invisible; log and go on
                log.exception("could not remove %s after a failed commit", path)
    if registered is not None:
        try:
            client.delete_model_version(name, registered.version)
        except Exception:  # noqa: BLE001 - a pending version is invisible; log and go on
            log.exception("could not delete pending version %s v%s", name, registered.version)
    log.warning("segment version commit of %s rolled back (staged at %s)", name, staged)


def cleanup_staging(spark: SparkSession, root: str, name: str) -> list[str]:
    """Remove staged tables of ``name`` left by killed jobs; returns what was removed.

    Run it when no commit of ``name`` is in progress.
    """
    fs = _FS(spark, root)
    folder = f"{model_root(root, name)}/{STAGING}"
    removed = [f"{folder}/{child}" for child in fs.list(folder)]
    for path in removed:
        fs.delete(path)
    return removed


# ---- reading ---------------------------------------------------------------------------------


def _from_model_version(mv: Any, aliases: Sequence[str] = ()) -> SegmentVersion:
    tags = dict(mv.tags or {})
    sizes = {int(k): int(v) for k, v in json.loads(tags.get(names.TAG_SIZES, "{}")).items()}
    return SegmentVersion(
        name=mv.name, version=str(mv.version), path=tags[names.TAG_TABLE_PATH],
        rows=int(tags[names.TAG_TABLE_ROWS]), as_of=tags[names.TAG_AS_OF],
        run_id=mv.run_id or tags.get("bigseg.run_id"), sizes=sizes,
        aliases=tuple(aliases or getattr(mv, "aliases", ()) or ()), tags=tags,
    )


def is_committed(mv: Any) -> bool:
    return (mv.tags or {}).get(names.TAG_STATE) == names.STATE_COMMITTED


def get_segment_version(client: Any, name: str, version: str | int) -> SegmentVersion:
    """A committed version by number or alias (``"champion"``); LookupError otherwise."""
    from mlflow.exceptions import MlflowException

    try:
        if str(version).isdigit():
            mv = client.get_model_version(name, str(version))
        else:
            mv = client.get_model_version_by_alias(name, str(version))
    except MlflowException as exc:
        raise LookupError(f"model {name!r} has no version or alias {version!r}") from exc
    if not is_committed(mv):
        raise LookupError(
            f"model {name!r} version {mv.version} is not a committed segment version "
            f"(state {(mv.tags or {}).get(names.TAG_STATE)!r})"
        )
    return _from_model_version(mv)


def list_segment_versions(client: Any, name: str) -> list[SegmentVersion]:
    """The committed versions of ``name``, oldest first (pending ones are left out)."""
    found = client.search_model_versions(f"name = '{name}'")
    committed = [mv for mv in found if is_committed(mv)]
    aliases: dict[str, list[str]] = {}
    try:
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
    except Exception:  # noqa: BLE001 - no registered model: no versions either
        return []
    return sorted((_from_model_version(mv, aliases.get(str(mv.version), ()))
                   for mv in committed), key=lambda v: int(v.version))
