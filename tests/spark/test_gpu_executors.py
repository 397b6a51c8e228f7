"""GPU execution on Spark executors, pinned on machines without a GPU (all of CI).

Each training / prediction task picks its backend where it runs: the Spark GPU it holds,
or faiss-cpu with the reason (backendFallback="cpu"), or an error naming the executors
("error"). Here no executor has a usable GPU, so the fallbacks are what is exercised; a
real local-cluster with the discovery script (and a stand-in nvidia-smi that lists two
GPUs) hands the tasks real GPU addresses.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_spark import assert_same_centroids, blobs, frame, reference_fit

from bigseg.kmeans.gpu import faiss_gpu_count, torch_cuda_count
from bigseg.spark import FaissKMeans

REPO = Path(__file__).resolve().parents[2]
DISCOVERY = REPO / "bigseg" / "conf" / "spark" / "gpu" / "getGpusResources.sh"
HOST = socket.gethostname()

cpu_only = pytest.mark.skipif(
    faiss_gpu_count() > 0 or torch_cuda_count() > 0,
    reason="pins what executors without a usable GPU do; this machine has one",
)

FAKE_NVIDIA_SMI = """#!/bin/sh
# stands in for nvidia-smi --query-gpu=index,uuid --format=csv,noheader on a 2-GPU host
echo "0, GPU-11111111-aaaa"
echo "1, GPU-22222222-bbbb"
"""


@pytest.fixture(scope="module")
def data():
    X, _ = blobs(n=3000, d=8, centers=6, seed=21)
    return X


@cpu_only
def test_torch_on_cpu_executors_is_legal_and_matches_faiss_cpu(spark, data):
    df = frame(spark, data, partitions=2)
    model = FaissKMeans(k=6, seed=3, maxIter=30, backend="torch").fit(df)
    ref = reference_fit(data, 6, seed=3, max_iter=30)
    assert_same_centroids(model.centroids, ref.centroids)
    assert model.summary.trainingCost == pytest.approx(ref.inertia, rel=1e-5)
    used = model.summary.backendsUsed
    assert [u["task"] for u in used] == [0, 1]
    for u in used:
        assert (u["backend"], u["device"], u["fallback"], u["gpu_address"]) == (
            "torch", "cpu", False, None
        )
        assert u["reason"] == "torch.cuda.is_available() is False"
        assert u["host"] == HOST and u["requested"] == "torch"
    torch_pred = [r.prediction for r in model.transform(df).orderBy("id").collect()]
    model.setBackend("faiss-cpu")
    cpu_pred = [r.prediction for r in model.transform(df).orderBy("id").collect()]
    assert torch_pred == cpu_pred


@cpu_only
@pytest.mark.parametrize("mode", ["barrier", "jobs"])
def test_faiss_gpu_falls_back_to_faiss_cpu_with_the_reason(spark, data, caplog, mode):
    df = frame(spark, data, partitions=2)
    cpu = FaissKMeans(k=6, seed=5, backend="faiss-cpu", trainingMode=mode).fit(df)
    with caplog.at_level(logging.INFO, logger="bigseg.spark"):
        gpu = FaissKMeans(k=6, seed=5, backend="faiss-gpu", trainingMode=mode).fit(df)
    np.testing.assert_array_equal(gpu.centroids, cpu.centroids)
    assert gpu.summary.trainingCost == cpu.summary.trainingCost
    reason = (
        "faiss.get_num_gpus() is 0; the task holds no Spark 'gpu' resource "
        "(spark.task.resource.gpu.amount)"
    )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        f"FaissKMeans {mode}: executor host {HOST} (tasks [0, 1]) used faiss-cpu "
        f"(fallback from faiss-gpu: {reason})"
    ) in warned
    used = gpu.summary.backendsUsed
    assert len(used) == 2
    assert {(u["backend"], u["device"], u["fallback"], u["reason"]) for u in used} == {
        ("faiss-cpu", "cpu", True, reason)
    }
    assert gpu.summary.asDict()["backendsUsed"] == used
    # prediction falls back the same way and assigns as faiss-cpu does
    gpu_pred = [r.prediction for r in gpu.transform(df).orderBy("id").collect()]
    cpu_pred = [r.prediction for r in cpu.transform(df).orderBy("id").collect()]
    assert gpu_pred == cpu_pred


@cpu_only
def test_auto_picks_faiss_cpu_and_records_why(spark, data):
    model = FaissKMeans(k=4, seed=1, maxIter=5).fit(frame(spark, data, partitions=2))
    for u in model.summary.backendsUsed:
        assert (u["requested"], u["backend"], u["fallback"]) == ("auto", "faiss-cpu", False)
        assert u["reason"].startswith("faiss-gpu: faiss.get_num_gpus() is 0; torch: ")


@cpu_only
@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param(
            {"backend": "faiss-gpu", "backendFallback": "error", "trainingMode": "barrier"},
            rf"backend='faiss-gpu' cannot run on 2 of 2 training tasks with "
            rf"backendFallback='error': host {HOST} \(task 0, pid \d+\): backend='faiss-gpu' "
            r"cannot run here: faiss.get_num_gpus\(\) is 0",
            id="faiss-gpu-barrier",
        ),
        pytest.param(
            {"backend": "faiss-gpu", "backendFallback": "error", "trainingMode": "jobs"},
            rf"cannot run on 2 of 2 training tasks .*host {HOST} \(task 1, pid \d+\)",
            id="faiss-gpu-jobs",
        ),
        pytest.param(
            {"backend": "torch", "assignment": "ivf"},
            r"backend='torch' supports assignment='exact' only, got assignment='ivf'",
            id="torch-ivf",
        ),
        pytest.param(
            {"backendFallback": "gpu"},
            r"backendFallback must be one of \['cpu', 'error'\], got 'gpu'",
            id="bad-fallback",
        ),
    ],
)
def test_backend_errors(spark, data, kwargs, match):
    df = frame(spark, data, partitions=2)
    with pytest.raises(ValueError, match=match):
        FaissKMeans(k=3, seed=0, **kwargs).fit(df)


@cpu_only
def test_transform_with_fallback_error_names_the_host(spark, data):
    from pyspark.errors import PythonException

    df = frame(spark, data, partitions=2)
    model = FaissKMeans(k=3, seed=0, maxIter=3).fit(df)
    model.setBackend("faiss-gpu").setBackendFallback("error")
    with pytest.raises(PythonException, match=rf"transform on host {HOST}: .*get_num_gpus"):
        model.transform(df).collect()


def _record(task, host, address, backend, device, reason="", fallback=False):
    return {"task": task, "host": host, "pid": 100 + task, "gpu_address": address,
            "requested": "auto", "backend": backend, "device": device, "fallback": fallback,
            "reason": reason, "error": None}


def test_the_driver_logs_one_line_per_executor_and_device(caplog):
    """A mixed cluster as the barrier tasks report it: two tasks sharing GPU 0 of gpu-1,
    one on gpu-1's GPU 1, one on a host without GPUs, one holding a GPU it cannot use."""
    from bigseg.spark.training import report_backends

    records = [
        _record(0, "gpu-1", "0", "faiss-gpu", "cuda:0"),
        _record(1, "gpu-1", "0", "faiss-gpu", "cuda:0"),
        _record(2, "gpu-1", "1", "faiss-gpu", "cuda:1"),
        _record(3, "cpu-7", None, "faiss-cpu", "cpu", "faiss-gpu: faiss.get_num_gpus() is 0"),
        _record(4, "gpu-2", "0", "faiss-cpu", "cpu", "faiss-gpu: faiss.get_num_gpus() is 0"),
    ]
    with caplog.at_level(logging.INFO, logger="bigseg.spark.training"):
        report_backends(records, "barrier")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "FaissKMeans barrier: executor host cpu-7 (tasks [3]) used faiss-cpu on "
                       "cpu (faiss-gpu: faiss.get_num_gpus() is 0)"),
        (logging.INFO, "FaissKMeans barrier: executor host gpu-1 (tasks [0, 1], Spark GPU 0) "
                       "used faiss-gpu on cuda:0"),
        (logging.INFO, "FaissKMeans barrier: executor host gpu-1 (tasks [2], Spark GPU 1) "
                       "used faiss-gpu on cuda:1"),
        # auto on a host whose GPU no backend can use: not a fallback, still a warning
        (logging.WARNING, "FaissKMeans barrier: executor host gpu-2 (tasks [4], Spark GPU 0) "
                          "used faiss-cpu on cpu (faiss-gpu: faiss.get_num_gpus() is 0)"),
    ]


@cpu_only
def test_doctor_reports_what_auto_picks_in_a_task():
    from bigseg.doctor import task_backend

    address, auto = task_backend(None)  # no task context: no Spark GPU
    assert address == ""
    assert auto.startswith("faiss-cpu on cpu (faiss-gpu: faiss.get_num_gpus() is 0; torch: ")


@pytest.mark.gpu
def test_gpu_executors_search_on_cuda_and_match_faiss_cpu(spark, data):
    """Where a GPU is visible (no Spark GPU scheduling in local mode: ordinal 0)."""
    df = frame(spark, data, partitions=2)
    cpu = FaissKMeans(k=6, seed=4, maxIter=10, backend="faiss-cpu").fit(df)
    gpu = FaissKMeans(k=6, seed=4, maxIter=10, backend="auto").fit(df)
    used = gpu.summary.backendsUsed
    assert {(u["device"], u["fallback"]) for u in used} == {("cuda:0", False)}
    assert {u["backend"] for u in used} <= {"faiss-gpu", "torch"}
    np.testing.assert_allclose(gpu.centroids, cpu.centroids, rtol=1e-4, atol=1e-4)
    assert gpu.summary.trainingCost == pytest.approx(cpu.summary.trainingCost, rel=1e-4)


# -- the discovery script ------------------------------------------------------------------


def _discover(tmp_path, *, nvidia_smi: str | None, visible: str | None = None) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi is not None:
        tool = bin_dir / "nvidia-smi"
        tool.write_text(nvidia_smi)
        tool.chmod(0o755)
    env = {"PATH": str(bin_dir)}  # nothing else: the script needs only sh builtins
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    out = subprocess.run([str(DISCOVERY)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "nvidia_smi, visible, addresses",
    [
        pytest.param(FAKE_NVIDIA_SMI, None, ["0", "1"], id="two-gpus"),
        pytest.param(FAKE_NVIDIA_SMI, "1", ["1"], id="visible-index"),
        pytest.param(FAKE_NVIDIA_SMI, "GPU-11111111-aaaa", ["0"], id="visible-uuid"),
        pytest.param(FAKE_NVIDIA_SMI, "", [], id="visible-empty"),
        pytest.param(None, None, [], id="no-nvidia-smi"),
        pytest.param(
            "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the "
            "NVIDIA driver.'\nexit 9\n",
            None,
            [],
            id="no-driver",
        ),
    ],
)
def test_discovery_script_prints_spark_resource_json(tmp_path, nvidia_smi, visible, addresses):
    assert os.access(DISCOVERY, os.X_OK)  # Spark executes it directly
    assert _discover(tmp_path, nvidia_smi=nvidia_smi, visible=visible) == {
        "name": "gpu",
        "addresses": addresses,
    }


# -- tasks that hold real Spark GPU addresses ----------------------------------------------

APP = """
import json, sys
sys.path.insert(0, sys.argv[3])
from helpers_spark import blobs, frame
from pyspark.sql import SparkSession
from bigseg.spark import FaissKMeans

script, out = sys.argv[1], sys.argv[2]
spark = (
    SparkSession.builder.master("local-cluster[1,2,1024]")
    .appName("bigseg-gpu-scheduling-test")
    .config("spark.ui.enabled", "false")
    .config("spark.executor.memory", "768m")
    .config("spark.worker.resource.gpu.amount", "2")
    .config("spark.worker.resource.gpu.discoveryScript", script)
    .config("spark.executor.resource.gpu.amount", "2")
    .config("spark.executor.resource.gpu.discoveryScript", script)
    .config("spark.task.resource.gpu.amount", "1")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
X, _ = blobs(n=2000, d=6, centers=4, seed=2)
df = frame(spark, X, partitions=2)
result = {}
for backend in ("faiss-cpu", "faiss-gpu", "torch", "auto"):
    model = FaissKMeans(k=4, seed=2, backend=backend, numWorkers=2).fit(df)
    result[backend] = {
        "centroids": model.centroids.tolist(),
        "backends": model.summary.backendsUsed,
        "predictions": [r.prediction for r in model.transform(df).orderBy("id").collect()],
    }
spark.stop()
with open(out, "w") as f:
    json.dump(result, f)
"""


@cpu_only
@pytest.mark.cluster
def test_tasks_holding_spark_gpus_fall_back_with_the_reason(tmp_path):
    """local-cluster (a real standalone worker) with the discovery script: each barrier
    task holds one of the two GPUs it lists, none of which FAISS or torch can use here.

    Not local[N]: local mode accepts spark.task.resource.gpu.amount but never offers a
    task the resource, so the stage waits forever (seen with Spark 4.x); a separate
    process because one JVM holds one SparkContext and the tests share theirs.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    app = tmp_path / "app.py"
    app.write_text(APP)
    out = tmp_path / "result.json"
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    subprocess.run(
        [sys.executable, str(app), str(DISCOVERY), str(out), str(Path(__file__).parent)],
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=600,
    )
    result = json.loads(out.read_text())
    reasons = {
        "faiss-cpu": (False, ""),
        "faiss-gpu": (True, "faiss.get_num_gpus() is 0"),
        "torch": (True, "torch.cuda.is_available() is False"),
    }
    for backend, (fallback, reason) in reasons.items():
        used = result[backend]["backends"]
        assert sorted(u["gpu_address"] for u in used) == ["0", "1"]
        assert {(u["backend"], u["device"], u["fallback"], u["reason"]) for u in used} == {
            ("faiss-cpu", "cpu", fallback, reason)
        }
        assert result[backend]["centroids"] == result["faiss-cpu"]["centroids"]
        assert result[backend]["predictions"] == result["faiss-cpu"]["predictions"]
    auto = result["auto"]["backends"]
    assert {(u["backend"], u["fallback"]) for u in auto} == {("faiss-cpu", False)}
    assert all(u["reason"].startswith("faiss-gpu: faiss.get_num_gpus() is 0") for u in auto)
