"""The SparkSession factory: one place decides how bigseg talks to Spark."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from bigseg.config import SparkConfig, in_ci
from bigseg.java import check_java

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LOCAL_MASTER = "local[*]"


def launched_by_spark_submit() -> bool:
    """True inside a driver started by spark-submit (the JVM launched Python)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def submitted_master() -> str | None:
    """The master spark-submit was given (None outside spark-submit)."""
    if not launched_by_spark_submit():
        return None
    from pyspark import SparkConf

    return SparkConf().get("spark.master", None)


def effective_master(cfg: SparkConfig) -> str | None:
    """The master bigseg sets: the configured one, local[*] when run directly, else None.

    None leaves the master to spark-submit, so `spark-submit --master X` always wins over
    a null config.
    """
    if cfg.master:
        return cfg.master
    return None if launched_by_spark_submit() else LOCAL_MASTER


def session_conf(cfg: SparkConfig) -> dict[str, str]:
    """Every Spark setting bigseg applies, user's `conf` last so it can override ours."""
    conf = {
        "spark.app.name": cfg.app_name,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(cfg.arrow_max_records_per_batch),
        "spark.sql.session.timeZone": "UTC",
    }
    if cfg.driver_memory:
        conf["spark.driver.memory"] = cfg.driver_memory
    master = effective_master(cfg)
    shuffle_partitions = cfg.shuffle_partitions or _local_shuffle_partitions(master)
    if shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    show_progress = cfg.show_progress if cfg.show_progress is not None else not in_ci()
    conf["spark.ui.showConsoleProgress"] = str(show_progress).lower()
    if master is not None:
        conf["spark.master"] = master
    python = _executor_python(cfg, master or submitted_master())
    if python:
        conf["spark.pyspark.python"] = python
        conf["spark.pyspark.driver.python"] = sys.executable
    conf.update(flatten_conf(cfg.conf))
    return conf


def flatten_conf(tree: dict, prefix: str = "") -> dict[str, str]:
    """{"spark": {"executor": {"memory": "8g"}}} -> {"spark.executor.memory": "8g"}.

    Booleans become Spark's lower-case "true"/"false".
    """
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_conf(value, name))
        elif isinstance(value, bool):
            flat[name] = str(value).lower()
        else:
            flat[name] = str(value)
    return flat


def _local_shuffle_partitions(master: str | None) -> int | None:
    """Shuffle partitions for a local master: 4 per core instead of Spark's 200.

    On one machine 200 mostly empty tasks per shuffle cost more than they split: a
    5,000-customer pipeline spent most of its time scheduling them. Clusters keep
    Spark's default (or the configured value).
    """
    if master is None or not master.startswith("local"):
        return None
    inside = master[master.find("[") + 1: master.find("]")] if "[" in master else "1"
    cores = os.cpu_count() or 1
    if inside.split(",")[0].strip() not in ("*", ""):
        try:
            cores = int(inside.split(",")[0])
        except ValueError:
            pass
    return max(4, 4 * cores)


def _executor_python(cfg: SparkConfig, master: str | None) -> str | None:
    """Pin executors' interpreter for local and standalone masters.

    Without it a worker runs whatever `python3` it finds, which usually lacks bigseg.
    On YARN/K8s the interpreter belongs to the cluster image or packed environment.
    """
    if cfg.python:
        return cfg.python
    if master is None or master.startswith(("local", "spark://")):
        # None: spark-submit gave no master, so Spark runs locally. A PYSPARK_PYTHON
        # the user exported is their choice; otherwise the driver's own interpreter.
        return os.environ.get("PYSPARK_PYTHON") or sys.executable
    return None


def get_spark(cfg: SparkConfig | None = None) -> SparkSession:
    """Build (or return the active) SparkSession from a SparkConfig.

    Java is checked first so a missing or wrong Java is one clear sentence, not a Py4J
    trace.
    """
    cfg = cfg or SparkConfig()
    if not launched_by_spark_submit():
        check_java()
    from pyspark.sql import SparkSession

    conf = session_conf(cfg)
    python = conf.get("spark.pyspark.python")
    if python:
        # The local-mode Python workers read the environment, not only the conf.
        os.environ.setdefault("PYSPARK_PYTHON", python)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    log.info(
        "Spark %s, master %s, app %s, UI %s",
        spark.version,
        spark.sparkContext.master,
        spark.sparkContext.appName,
        spark.sparkContext.uiWebUrl or "off",
    )
    return spark
