"""The TCP collective: threads act as barrier tasks (no Spark), then one real barrier stage."""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest

from bigseg.spark.collective import CollectiveError, TcpAllreduce


class ThreadRendezvous:
    """allGather for threads: every rank gets all messages in rank order.

    ``hold`` (optional) runs once after all messages are in, before ranks > 0 return,
    while rank 0 is already accepting: a place to act as an intruder.
    """

    def __init__(self, world_size: int, hold=None):
        self.messages = [None] * world_size
        self.barrier = threading.Barrier(world_size)
        self.hold = hold
        self.held = threading.Event()

    def for_rank(self, rank: int):
        def rendezvous(message: str) -> list[str]:
            self.messages[rank] = message
            self.barrier.wait(timeout=30)
            if self.hold is not None:
                if rank == 0:
                    threading.Thread(target=self._run_hold, daemon=True).start()
                else:
                    self.held.wait(timeout=30)
            return list(self.messages)

        return rendezvous

    def _run_hold(self):
        try:
            self.hold(json.loads(self.messages[0]))
        finally:
            self.held.set()


def run_ranks(world_size, body, rendezvous=None, **kwargs):
    """Run body(comm) in one thread per rank; return results by rank, re-raise errors."""
    rendezvous = rendezvous or ThreadRendezvous(world_size)
    results = [None] * world_size
    errors = [None] * world_size

    def task(rank):
        try:
            with TcpAllreduce(rank, world_size, rendezvous.for_rank(rank), **kwargs) as comm:
                results[rank] = body(comm)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            errors[rank] = exc

    threads = [threading.Thread(target=task, args=(r,)) for r in range(world_size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def partials(rank, k=5, d=3):
    rng = np.random.default_rng(rank)
    return {
        "sums": rng.normal(size=(k, d)),
        "counts": rng.integers(0, 10, size=k).astype(np.float64),
        "inertia": np.array([rng.random()]),
    }


def expected_sum(world_size):
    parts = [partials(r) for r in range(world_size)]
    total = {k: v.copy() for k, v in parts[0].items()}
    for p in parts[1:]:
        for k in total:
            total[k] += p[k]
    return total


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_allreduce_sums_in_rank_order_and_all_ranks_agree(world_size):
    def body(comm):
        return [comm.allreduce(partials(comm.rank)) for _ in range(3)]

    results, errors = run_ranks(world_size, body)
    assert errors == [None] * world_size
    want = expected_sum(world_size)
    for per_rank in results:
        for got in per_rank:
            for name in want:
                # Bitwise equal: rank 0 adds in rank order, everyone receives its bytes.
                np.testing.assert_array_equal(got[name], want[name])


def test_gather_and_broadcast():
    def body(comm):
        gathered = comm.gather({"rows": np.full((comm.rank + 1, 2), comm.rank, np.float32)})
        sent = {"c": np.arange(6, dtype=np.float32).reshape(3, 2)} if comm.rank == 0 else None
        return gathered, comm.broadcast(sent)

    results, errors = run_ranks(3, body)
    assert errors == [None] * 3
    gathered0 = results[0][0]["rows"]
    assert gathered0.dtype == np.float32
    np.testing.assert_array_equal(gathered0[:, 0], [0, 1, 1, 2, 2, 2])
    assert results[1][0] is None and results[2][0] is None
    for _, bcast in results:
        np.testing.assert_array_equal(bcast["c"], np.arange(6, dtype=np.float32).reshape(3, 2))


def test_allreduce_rejects_non_float64():
    with TcpAllreduce(0, 1, lambda m: [m]) as comm, pytest.raises(TypeError, match="float64"):
        comm.allreduce({"x": np.zeros(3, np.float32)})


def _intrude(info, rank_claimed, outcome):
    """Connect to rank 0 with a wrong secret, try to inject a frame, record what happened."""
    sock = socket.create_connection((info["host"], info["port"]), timeout=10)
    try:
        hello = sock.recv(5 + 32)
        wrong = b"\x00" * 32
        sock.sendall(rank_claimed.to_bytes(4, "little") + b"n" * 32 + wrong)
        # A refused peer is closed without a server proof: it reads EOF (or a reset).
        try:
            outcome["reply"] = sock.recv(64)
        except ConnectionResetError:
            outcome["reply"] = b""
        outcome["hello"] = hello[:5]
    finally:
        sock.close()


@pytest.mark.parametrize("rank_claimed", [1, 7])
def test_wrong_secret_is_refused_and_does_not_corrupt_the_sum(rank_claimed):
    outcome = {}
    rendezvous = ThreadRendezvous(3, hold=lambda info: _intrude(info, rank_claimed, outcome))

    def body(comm):
        return comm.allreduce(partials(comm.rank)), comm.rejected

    results, errors = run_ranks(3, body, rendezvous=rendezvous)
    assert errors == [None] * 3
    assert outcome["hello"] == b"BSGC1"
    assert outcome["reply"] == b""  # no server proof, connection closed
    assert results[0][1] == 1  # rank 0 counted one refusal
    want = expected_sum(3)
    for got, _ in results:
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def test_a_missing_rank_times_out_at_rank_0():
    rendezvous = ThreadRendezvous(2)

    def rank0():
        return TcpAllreduce(0, 2, rendezvous.for_rank(0), connect_timeout=1.0)

    def fake_rank1():
        rendezvous.for_rank(1)("")  # takes part in the rendezvous but never connects

    t = threading.Thread(target=fake_rank1)
    t.start()
    with pytest.raises(CollectiveError, match=r"ranks \[1\] did not connect"):
        rank0()
    t.join()


def test_a_peer_that_dies_mid_collective_fails_the_others():
    def body(comm):
        comm.allreduce(partials(comm.rank))
        if comm.rank == 1:
            comm.close()  # dies before the second collective
            return "left"
        return comm.allreduce(partials(comm.rank))

    results, errors = run_ranks(3, body, timeout=10)
    assert results[1] == "left"
    assert isinstance(errors[0], CollectiveError)
    assert "rank 1" in str(errors[0])
    # Rank 2 sees rank 0 close after its failure, well before its own timeout.
    assert isinstance(errors[2], CollectiveError)


def test_allreduce_in_a_real_barrier_stage(spark):
    """Two barrier tasks on local[2]: one allGather for the rendezvous, then TCP."""
    import pyarrow as pa

    def task(batches):
        from bigseg.spark.collective import TcpAllreduce

        n = float(sum(b.num_rows for b in batches))
        with TcpAllreduce.from_barrier_context() as comm:
            total = comm.allreduce({"n": np.array([n]), "r": np.array([float(comm.rank)])})
            rank = comm.rank
        yield pa.RecordBatch.from_pydict(
            {
                "rank": pa.array([rank], pa.int32()),
                "n": [float(total["n"][0])],
                "r": [float(total["r"][0])],
            }
        )

    rows = (
        spark.range(100, numPartitions=2)
        .mapInArrow(task, "rank int, n double, r double", barrier=True)
        .repartition(1)
        .collect()
    )
    assert sorted(r.rank for r in rows) == [0, 1]
    assert {(r.n, r.r) for r in rows} == {(100.0, 1.0)}
