"""A standalone Spark cluster on 127.0.0.1, started from the pyspark pip package.

The pip package has no sbin/start-master.sh, so the master and the workers are started
with `spark-class` directly, as child processes in their own sessions, and stopped by PID.
Used by the `cluster` tests and by `scripts/local-cluster start|stop|status` for users who
want to try `spark-submit` without a real cluster.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(os.environ.get("BIGSEG_HOME", "outputs")) / "local-cluster"


def spark_home() -> Path:
    """The pyspark package folder: it holds bin/spark-class and the jars."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ClusterState:
    host: str
    master_port: int
    webui_port: int
    master_pid: int
    worker_pids: list[int] = field(default_factory=list)
    workdir: str = ""

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"

    @property
    def webui_url(self) -> str:
        return f"http://{self.host}:{self.webui_port}"


class LocalCluster:
    """A master and N workers on loopback.

    Parameters
    ----------
    workdir : folder for logs, worker scratch space and the state file.
    n_workers, cores, memory : workers and what each offers to executors.
    master_port, webui_port : 0 picks free ports (tests); 7077/8080 for users.
    python : the interpreter executors run (PYSPARK_PYTHON).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
        *,
        n_workers: int = 2,
        cores: int = 1,
        memory: str = "2g",
        host: str = "127.0.0.1",
        master_port: int = 7077,
        webui_port: int = 8080,
        python: str | None = None,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers={n_workers} should be >= 1")
        if cores < 1:
            raise ValueError(f"cores={cores} should be >= 1")
        self.workdir = Path(workdir).resolve()
        self.n_workers = n_workers
        self.cores = cores
        self.memory = memory
        self.host = host
        self.master_port = master_port or free_port(host)
        self.webui_port = webui_port or free_port(host)
        self.python = python or sys.executable
        self.worker_env = dict(worker_env or {})
        self.state: ClusterState | None = None

    # -- process management -------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=self.host,
            SPARK_LOCAL_HOSTNAME=self.host,
            PYSPARK_PYTHON=self.python,
            SPARK_LOG_DIR=str(self.workdir / "logs"),
        )
        return env

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> int:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self._env()
        env.update(extra_env or {})
        spark_class = str(spark_home() / "bin" / "spark-class")
        with open(logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [spark_class, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() kills the JVM tree
            )
        return proc.pid

    def start(self, timeout_s: float = 120.0) -> ClusterState:
        """Start the master, then the workers; return once every worker has registered."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        master_pid = self._spawn(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host", self.host,
                "--port", str(self.master_port),
                "--webui-port", str(self.webui_port),
            ],
        )
        self.state = ClusterState(
            host=self.host,
            master_port=self.master_port,
            webui_port=self.webui_port,
            master_pid=master_pid,
            workdir=str(self.workdir),
        )
        self._write_state()
        try:
            self._wait(lambda info: info.get("status") == "ALIVE", "master to be ALIVE", timeout_s)
            for i in range(self.n_workers):
                self.start_worker(i)
            self._wait(
                lambda info: self._alive_workers(info) >= self.n_workers,
                f"{self.n_workers} workers to register",
                timeout_s,
            )
        except Exception:
            self.stop()
            raise
        log.info(
            "local cluster up: %s with %d workers x %d cores (UI %s)",
            self.state.master_url, self.n_workers, self.cores, self.state.webui_url,
        )
        return self.state

    def start_worker(self, index: int) -> int:
        """Start one more worker (also used to replace a killed one)."""
        if self.state is None:
            raise RuntimeError("start the master first")
        workdir = self.workdir / f"worker-{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        pid = self._spawn(
            f"worker-{index}",
            [
                "org.apache.spark.deploy.worker.Worker",
                "--host", self.host,
                "--cores", str(self.cores),
                "--memory", self.memory,
                "--webui-port", "0",
                "--work-dir", str(workdir),
                self.state.master_url,
            ],
            extra_env=self.worker_env,
        )
        self.state.worker_pids.append(pid)
        self._write_state()
        return pid

    def kill_worker(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Kill a worker's whole process group (the worker and its executors)."""
        _kill_group(pid, sig)

    def stop(self) -> None:
        """Stop workers, then the master, by PID; safe to call twice."""
        if self.state is None:
            return
        for pid in self.state.worker_pids:
            _kill_group(pid, signal.SIGTERM)
        _kill_group(self.state.master_pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        pids = [*self.state.worker_pids, self.state.master_pid]
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                _kill_group(pid, signal.SIGKILL)
        state_file = self.workdir / "state.json"
        if state_file.exists():
            state_file.unlink()
        self.state = None

    # -- introspection ---------------------------------------------------------------
    def master_info(self) -> dict:
        """The master's JSON status page (workers, apps, status)."""
        if self.state is None:
            raise RuntimeError("the cluster is not started")
        return fetch_master_info(self.state.webui_url)

    @staticmethod
    def _alive_workers(info: dict) -> int:
        return sum(1 for w in info.get("workers", []) if w.get("state") == "ALIVE")

    def _wait(self, ready, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = None
        while time.monotonic() < deadline:
            if self.state and not _alive(self.state.master_pid):
                raise RuntimeError(
                    f"the Spark master exited while waiting for {what}; see "
                    f"{self.workdir / 'logs' / 'master.log'}"
                )
            try:
                if ready(self.master_info()):
                    return
            except OSError as exc:  # not listening yet
                last_error = exc
            time.sleep(0.5)
        raise TimeoutError(
            f"timed out after {timeout_s:.0f}s waiting for {what} "
            f"(last error: {last_error}); logs in {self.workdir / 'logs'}"
        )

    def _write_state(self) -> None:
        if self.state is not None:
            (self.workdir / "state.json").write_text(json.dumps(asdict(self.state), indent=2))

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def fetch_master_info(webui_url: str, timeout_s: float = 5.0) -> dict:
    with urllib.request.urlopen(f"{webui_url}/json/", timeout=timeout_s) as resp:
        return json.loads(resp.read().decode())


def load_state(workdir: str | os.PathLike[str] = DEFAULT_STATE_DIR) -> ClusterState | None:
    path = Path(workdir).resolve() / "state.json"
    if not path.exists():
        return None
    return ClusterState(**json.loads(path.read_text()))


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own children
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return


# -- command line: scripts/local-cluster and `bigseg local-cluster` ----------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local-cluster",
        description="Start, stop or inspect a standalone Spark cluster on 127.0.0.1.",
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="2g", help="memory per worker")
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--webui-port", type=int, default=8080)
    parser.add_argument("--dir", default=str(DEFAULT_STATE_DIR), help="logs and state")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = sys.stdout.write
    state = load_state(args.dir)

    if args.action == "start":
        if state is not None and _alive(state.master_pid):
            out(f"already running: {state.master_url} (UI {state.webui_url})\n")
            return 0
        cluster = LocalCluster(
            args.dir,
            n_workers=args.workers,
            cores=args.cores,
            memory=args.memory,
            master_port=args.port,
            webui_port=args.webui_port,
        )
        state = cluster.start()
        out(
            f"started {state.master_url} with {args.workers} workers (UI {state.webui_url})\n"
            f"try: spark-submit --master {state.master_url} jobs/doctor.py\n"
        )
        return 0

    if state is None:
        out("no local cluster recorded in " f"{Path(args.dir).resolve()}\n")
        return 0 if args.action == "stop" else 1

    if args.action == "stop":
        cluster = LocalCluster(args.dir, master_port=state.master_port,
                               webui_port=state.webui_port)
        cluster.state = state
        cluster.stop()
        out(f"stopped {state.master_url}\n")
        return 0

    try:
        info = fetch_master_info(state.webui_url)
    except OSError as exc:
        out(f"{state.master_url}: not answering ({exc})\n")
        return 1
    workers = [w for w in info.get("workers", []) if w.get("state") == "ALIVE"]
    out(
        f"{state.master_url}: {info.get('status')}, {len(workers)} workers alive, "
        f"{info.get('cores', 0)} cores, UI {state.webui_url}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
