"""The SparkSession factory and the Java check."""

from __future__ import annotations

import os
import sys

import pytest

from bigseg.config import SparkConfig
from bigseg.java import JavaNotFoundError, check_java, parse_java_version
from bigseg.session import LOCAL_MASTER, session_conf


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.delenv("CI", raising=False)


def test_null_master_means_local_when_run_directly():
    conf = session_conf(SparkConfig())
    assert conf["spark.master"] == LOCAL_MASTER
    assert conf["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert conf["spark.sql.execution.arrow.maxRecordsPerBatch"] == "100000"
    assert conf["spark.pyspark.python"] == sys.executable


def test_configured_master_and_passthrough_conf_win():
    conf = session_conf(
        SparkConfig(
            master="spark://10.0.0.1:7077",
            arrow_max_records_per_batch=5000,
            conf={"spark.executor.memory": "3g", "spark.sql.session.timeZone": "Asia/Shanghai"},
        )
    )
    assert conf["spark.master"] == "spark://10.0.0.1:7077"
    assert conf["spark.sql.execution.arrow.maxRecordsPerBatch"] == "5000"
    assert conf["spark.executor.memory"] == "3g"
    assert conf["spark.sql.session.timeZone"] == "Asia/Shanghai"
    assert conf["spark.pyspark.python"] == sys.executable


@pytest.mark.parametrize("master", ["yarn", "k8s://https://k8s:443"])
def test_executor_python_is_left_to_the_cluster_on_yarn_and_k8s(master):
    assert "spark.pyspark.python" not in session_conf(SparkConfig(master=master))


def test_explicit_python_is_used():
    conf = session_conf(SparkConfig(master="yarn", python="/opt/env/bin/python"))
    assert conf["spark.pyspark.python"] == "/opt/env/bin/python"


@pytest.mark.parametrize(("ci", "expected"), [("true", "false"), ("", "true")])
def test_console_progress_is_off_in_ci(monkeypatch, ci, expected):
    monkeypatch.setenv("CI", ci)
    assert session_conf(SparkConfig())["spark.ui.showConsoleProgress"] == expected


def test_progress_can_be_forced():
    assert session_conf(SparkConfig(show_progress=False))["spark.ui.showConsoleProgress"] == "false"


@pytest.mark.parametrize(
    ("text", "version", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', "17.0.15", 17),
        ('openjdk version "21" 2023-09-19', "21", 21),
        ('java version "1.8.0_392"', "1.8.0_392", 8),
        ('openjdk version "11.0.2-ea" 2019', "11.0.2-ea", 11),
    ],
)
def test_parse_java_version(text, version, major):
    assert parse_java_version(text) == (version, major)


def test_unparseable_java_version_is_a_clear_error():
    with pytest.raises(JavaNotFoundError, match="cannot read a Java version"):
        parse_java_version("command not found")


def test_missing_java_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(JavaNotFoundError, match="apt-get install -y openjdk-17-jre-headless"):
        check_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="none was found on PATH"):
        check_java()


def test_old_java_is_rejected(monkeypatch, tmp_path):
    fake = tmp_path / "jdk8" / "bin"
    fake.mkdir(parents=True)
    (fake / "java").write_text('#!/bin/sh\necho \'java version "1.8.0_392"\' >&2\n')
    (fake / "java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk8"))
    with pytest.raises(JavaNotFoundError, match=r"Java 1\.8\.0_392 .* not supported"):
        check_java()


def test_local_session_has_bigseg_settings(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "100000"
    assert conf.get("spark.pyspark.python") == os.environ.get("PYSPARK_PYTHON", sys.executable)
    # Executors really run the pinned interpreter.
    seen = spark.sparkContext.parallelize(range(2), 2).map(lambda _: sys.executable).collect()
    assert set(seen) == {sys.executable}


def test_exported_pyspark_python_is_pinned_for_standalone(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/team/bin/python3")
    conf = session_conf(SparkConfig(master="spark://10.0.0.1:7077"))
    assert conf["spark.pyspark.python"] == "/opt/team/bin/python3"


@pytest.mark.parametrize(
    ("master", "expected"),
    [("local[2]", "8"), ("local[1]", "4"), ("local[8,3]", "32"), ("spark://h:7077", None)],
)
def test_local_masters_get_few_shuffle_partitions(master, expected):
    conf = session_conf(SparkConfig(master=master))
    assert conf.get("spark.sql.shuffle.partitions") == expected


def test_configured_shuffle_partitions_win():
    conf = session_conf(SparkConfig(master="local[2]", shuffle_partitions=64))
    assert conf["spark.sql.shuffle.partitions"] == "64"


def test_spark_conf_override_from_the_command_line_reaches_spark():
    from bigseg.config import compose

    cfg = compose("pipeline", ["+spark.conf.spark.executor.memory=8g",
                               "+spark.conf.spark.python.worker.faulthandler.enabled=true",
                               "spark=standalone"])
    conf = session_conf(cfg.spark)
    assert conf["spark.executor.memory"] == "8g"
    assert conf["spark.python.worker.faulthandler.enabled"] == "true"
    assert conf["spark.executor.cores"] == "1"  # the template's dotted YAML key
