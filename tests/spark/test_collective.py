"""The TCP collective: threads act as barrier tasks (no Spark), then one real barrier stage."""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest

from bigseg.spark.collective import CollectiveError, TcpAllreduce, tree_links

WORLD_SIZES = [1, 2, 3, 5, 8, 17]
# (topology, fanout): the binomial tree (the default), a radix-3 tree, and the star.
TOPOLOGIES = [("tree", 2), ("tree", 3), ("star", 2)]


class ThreadRendezvous:
    """allGather for threads: every rank gets all messages in rank order.

    ``hold`` (optional) runs once with all messages, as soon as they are in; ranks in
    ``held`` return only after it finished, while the others are already connecting
    and accepting: a place to act as an intruder at one rank's listener.
    """

    def __init__(self, world_size: int, hold=None, held=()):
        self.messages = [None] * world_size
        self.barrier = threading.Barrier(world_size, action=self._start_hold)
        self.hold = hold
        self.held_ranks = set(held)
        self.held = threading.Event()

    def for_rank(self, rank: int):
        def rendezvous(message: str) -> list[str]:
            self.messages[rank] = message
            self.barrier.wait(timeout=30)
            if rank in self.held_ranks:
                self.held.wait(timeout=30)
            return list(self.messages)

        return rendezvous

    def _start_hold(self):
        if self.hold is not None:
            threading.Thread(target=self._run_hold, daemon=True).start()

    def _run_hold(self):
        try:
            self.hold(list(self.messages))
        finally:
            self.held.set()


def run_ranks(world_size, body, rendezvous=None, **kwargs):
    """Run body(comm) in one thread per rank; return results and errors by rank."""
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
    assert not any(t.is_alive() for t in threads), "a rank hung"
    return results, errors


def partials(rank, k=5, d=3):
    rng = np.random.default_rng(rank)
    return {
        "sums": rng.normal(size=(k, d)),
        "counts": rng.integers(0, 10, size=k).astype(np.float64),
        "inertia": np.array([rng.random()]),
    }


def rank_order_sum(world_size):
    parts = [partials(r) for r in range(world_size)]
    total = {k: v.copy() for k, v in parts[0].items()}
    for p in parts[1:]:
        for k in total:
            total[k] += p[k]
    return total


def tree_order_sum(world_size, topology, fanout, rank=0):
    """The sum as the documented tree adds it: own partial, then children ascending."""
    total = {k: v.copy() for k, v in partials(rank).items()}
    for child in tree_links(rank, world_size, topology, fanout)[1]:
        part = tree_order_sum(world_size, topology, fanout, child)
        for k in total:
            total[k] += part[k]
    return total


@pytest.mark.parametrize(("topology", "fanout"), TOPOLOGIES)
@pytest.mark.parametrize("world_size", WORLD_SIZES)
def test_allreduce_is_the_sum_and_bit_identical_everywhere(world_size, topology, fanout):
    def body(comm):
        return [comm.allreduce(partials(comm.rank)) for _ in range(2)]

    runs = []
    for _ in range(2):
        results, errors = run_ranks(world_size, body, topology=topology, fanout=fanout)
        assert errors == [None] * world_size
        runs.append(results)
    exact = tree_order_sum(world_size, topology, fanout)
    numpy_sum = rank_order_sum(world_size)
    for results in runs:
        for per_rank in results:
            for got in per_rank:
                for name in exact:
                    # Every rank, call and run: the bytes of the documented order.
                    np.testing.assert_array_equal(got[name], exact[name])
                    np.testing.assert_allclose(got[name], numpy_sum[name], rtol=1e-12)
    if topology == "star":  # the star adds in rank order, bit for bit
        for name in numpy_sum:
            np.testing.assert_array_equal(exact[name], numpy_sum[name])


@pytest.mark.parametrize(("topology", "fanout"), TOPOLOGIES)
@pytest.mark.parametrize("world_size", WORLD_SIZES)
def test_gather_in_rank_order_and_broadcast(world_size, topology, fanout):
    def body(comm):
        rows = np.full((comm.rank % 3 + 1, 2), comm.rank, np.float32)
        gathered = comm.gather({"rows": rows, "ids": np.full(comm.rank % 3 + 1, comm.rank)})
        sent = {"c": np.arange(6, dtype=np.float32).reshape(3, 2)} if comm.rank == 0 else None
        return gathered, comm.broadcast(sent)

    results, errors = run_ranks(world_size, body, topology=topology, fanout=fanout)
    assert errors == [None] * world_size
    want = np.concatenate([np.full(r % 3 + 1, r) for r in range(world_size)])
    gathered0 = results[0][0]
    assert gathered0["rows"].dtype == np.float32
    np.testing.assert_array_equal(gathered0["rows"][:, 0], want)
    np.testing.assert_array_equal(gathered0["ids"], want)
    assert all(gathered is None for gathered, _ in results[1:])
    for _, bcast in results:
        np.testing.assert_array_equal(bcast["c"], np.arange(6, dtype=np.float32).reshape(3, 2))


@pytest.mark.parametrize(
    ("topology", "fanout", "busiest"),
    [("star", 2, 16), ("tree", 2, 5), ("tree", 4, 7)],  # P=17: star 16; tree (f-1)*log_f(17)
)
def test_bytes_through_each_rank_follow_the_topology(topology, fanout, busiest):
    def body(comm):
        comm.allreduce(partials(comm.rank))
        return comm.bytes_sent, comm.bytes_received, len(comm.children), comm.parent

    results, errors = run_ranks(17, body, topology=topology, fanout=fanout)
    assert errors == [None] * 17
    nbytes = sum(a.nbytes for a in partials(0).values())
    for sent, received, n_children, parent in results:
        links = n_children + (parent is not None)
        assert (sent, received) == (links * nbytes, links * nbytes)
    assert max(r[2] for r in results) == busiest


def test_allreduce_rejects_non_float64():
    with TcpAllreduce(0, 1, lambda m: [m]) as comm, pytest.raises(TypeError, match="float64"):
        comm.allreduce({"x": np.zeros(3, np.float32)})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"topology": "ring"}, ValueError, r"topology='ring' must be one of \['tree', 'star'\]"),
        ({"topology": "Tree"}, ValueError, r"topology='Tree' must be one of"),
        ({"fanout": 1}, ValueError, r"fanout=1 must be an integer >= 2"),
        ({"fanout": 0}, ValueError, r"fanout=0 must be an integer >= 2"),
        ({"fanout": -3, "topology": "star"}, ValueError, r"fanout=-3 must be an integer >= 2"),
        ({"fanout": 2.5}, TypeError, r"fanout=2.5 must be an integer >= 2"),
        ({"fanout": True}, TypeError, r"fanout=True must be an integer >= 2"),
        ({"rank": 3}, ValueError, r"rank=3 must be in \[0, world_size=2\)"),
        ({"rank": -1}, ValueError, r"rank=-1 must be in \[0, world_size=2\)"),
    ],
)
def test_bad_parameters_are_refused(kwargs, error, match):
    kwargs = {"rank": 0, **kwargs}
    with pytest.raises(error, match=match):
        TcpAllreduce(kwargs.pop("rank"), 2, lambda m: [m, ""], **kwargs)


def _intrude(info, rank_claimed, outcome):
    """Connect to a listener with a wrong secret, try to inject a frame, record the result."""
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


@pytest.mark.parametrize(
    ("topology", "world_size", "target", "rank_claimed"),
    [
        ("star", 3, 0, 1),
        ("star", 3, 0, 7),
        ("tree", 3, 0, 1),  # P <= fanout + 1: rank 0 is the only listener
        ("tree", 8, 4, 5),  # an inner node: children 5 and 6, parent 0
        ("tree", 8, 4, 1),  # a rank that is not its child
        ("tree", 17, 8, 9),
    ],
)
def test_wrong_secret_is_refused_counted_and_harmless(topology, world_size, target, rank_claimed):
    outcome = {}
    held = tree_links(target, world_size, topology)[1]  # connect only after the intruder

    def hold(messages):
        _intrude(json.loads(messages[target]), rank_claimed, outcome)

    rendezvous = ThreadRendezvous(world_size, hold=hold, held=held)

    def body(comm):
        return comm.allreduce(partials(comm.rank)), comm.rejected

    results, errors = run_ranks(world_size, body, rendezvous=rendezvous, topology=topology)
    assert errors == [None] * world_size
    assert outcome["hello"] == b"BSGC1"
    assert outcome["reply"] == b""  # no server proof, connection closed
    assert [rejected for _, rejected in results] == [int(r == target) for r in range(world_size)]
    want = tree_order_sum(world_size, topology, 2)
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
    with pytest.raises(CollectiveError, match=r"rank 0: ranks \[1\] did not connect"):
        rank0()
    t.join()


@pytest.mark.parametrize(
    ("topology", "world_size", "dying"),
    [
        ("star", 3, 1),
        ("star", 5, 0),
        ("tree", 8, 7),  # a leaf (parent 6)
        ("tree", 8, 4),  # an inner node (children 5, 6; parent 0)
        ("tree", 8, 0),  # the root
        ("tree", 17, 12),
    ],
)
def test_a_rank_that_dies_mid_collective_fails_all_others(topology, world_size, dying):
    def body(comm):
        comm.allreduce(partials(comm.rank))
        if comm.rank == dying:
            comm.close()  # dies before the second collective
            return "left"
        return comm.allreduce(partials(comm.rank))

    # The cascade of closed sockets, not the 30 s socket timeout, must fail everyone.
    results, errors = run_ranks(world_size, body, timeout=30, topology=topology)
    assert results[dying] == "left"
    others = [errors[r] for r in range(world_size) if r != dying]
    assert all(isinstance(e, CollectiveError) for e in others), others
    assert not any("timed out" in str(e) for e in others), others
    parent, children = tree_links(dying, world_size, topology)
    for neighbour in [*children, *([parent] if parent is not None else [])]:
        assert f"rank {dying}" in str(errors[neighbour])


def test_a_child_with_another_layout_fails_the_collective():
    def body(comm):
        part = partials(comm.rank, k=4 if comm.rank == 3 else 5)
        return comm.allreduce(part)

    results, errors = run_ranks(5, body, timeout=30)  # rank 3's parent is rank 2
    assert "rank 3 sent arrays of another layout to allreduce at rank 2" in str(errors[2])
    assert all(isinstance(e, CollectiveError) for e in errors)


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
