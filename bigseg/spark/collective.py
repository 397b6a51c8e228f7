"""Collectives between the tasks of one Spark barrier stage, over direct TCP.

Why not ``BarrierTaskContext.allGather`` every iteration: in Spark 4.3 each allGather
waits in the barrier RPC's fixed one-second sleep loop, so an iteration that FAISS does
in 0.1 s would cost over 1 s. Here allGather is used exactly once, for the rendezvous:

1. Every task with children in the topology (below) binds a listening socket on its
   executor's own address (never 0.0.0.0) and draws a fresh 32-byte secret for this
   stage attempt.
2. One allGather shares ``(host, port, secret)`` from those tasks; leaves send "".
3. Every task but 0 connects to its parent, and both sides prove knowledge of the
   parent's secret with an HMAC-SHA256 challenge-response (the secret itself never
   crosses the TCP connection; a peer without it is refused before it can send or read
   a partial).
4. Each collective call: partial results travel up the tree (a task adds its children's
   partials to its own, in child-rank order, and sends the sum to its parent); task 0's
   final arrays travel down the same tree unchanged, so every task gets the same bytes.

Topology. ``"tree"`` (default) is a k-nomial tree of radix ``fanout``: task r's parent
is r with its lowest non-zero base-``fanout`` digit cleared, so ``fanout=2`` is the
binomial tree MPI uses for reduce and broadcast. Task 0 has (fanout-1)·ceil(log_fanout P)
children, every other task fewer, and a task's subtree is a contiguous rank range. Why
binomial rather than a k-ary tree: a task receives its small subtrees' partials while
its larger ones are still being summed below, so the reduce takes about log2(P) message
times, where a k-ary tree of fan-out f needs f·log_f(P) (twice that at f=2). ``"star"``
is the earlier layout (every task talks to task 0 only, which then moves 2·(P-1)
messages per allreduce); worlds of P <= fanout are a star either way.

Sums are deterministic for a given world size and topology: the same inputs give
bit-identical results on every task and every run. The tree adds the same terms as the
star's rank-order sum (``a0 + a1 + ... + a(P-1)``) grouped by subtree, so the two differ
only by float64 rounding.

Connections are authenticated, not encrypted: what crosses them is sums of feature rows,
never rows, except the initialisation sample (see ``gather``). Every socket operation
has a timeout, and any failure raises :class:`CollectiveError` inside the task and closes
its sockets, so its parent and children see EOF at once and fail in turn: the barrier
stage fails as a whole and Spark reruns it.

The class has no Spark dependency: the rendezvous is a function (``str -> list[str]``
in rank order), which tests replace with threads.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Rendezvous = Callable[[str], list[str]]
Arrays = dict[str, np.ndarray]

_HELLO = b"BSGC1"  # server greeting + protocol version
_FRAME = struct.Struct("<4sQI")  # magic, sequence number, header length
_FRAME_MAGIC = b"BSGM"
_RANK = struct.Struct("<I")
_NONCE_BYTES = 32
_MAC_BYTES = 32
_MAX_HEADER_BYTES = 1 << 20
# Only plain numeric dtypes travel: the header names them and np.frombuffer rebuilds them,
# so nothing on the wire is ever unpickled or evaluated.
_DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "<u8"})

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_CONNECT_TIMEOUT_S = 60.0
TOPOLOGIES = ("tree", "star")
DEFAULT_FANOUT = 2


class CollectiveError(RuntimeError):
    """A collective could not complete: a peer failed, timed out or broke the protocol."""


def _mac(secret: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, b"".join(parts), sha256).digest()


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        chunk = sock.recv_into(view[got:], n - got)
        if chunk == 0:
            raise ConnectionError(f"peer closed the connection after {got} of {n} bytes")
        got += chunk
    return buf


def _encode(seq: int, op: str, arrays: Mapping[str, np.ndarray]) -> tuple[bytes, list]:
    entries = []
    payload = []
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        dtype = arr.dtype.newbyteorder("<").str if arr.dtype.byteorder == ">" else arr.dtype.str
        if dtype not in _DTYPES:
            raise TypeError(
                f"collective array {name!r} has dtype {arr.dtype}; allowed: {sorted(_DTYPES)}"
            )
        arr = arr.astype(dtype, copy=False)
        entries.append({"name": name, "dtype": dtype, "shape": list(arr.shape)})
        payload.append(memoryview(arr).cast("B"))
    header = json.dumps({"op": op, "entries": entries}).encode()
    return _FRAME.pack(_FRAME_MAGIC, seq, len(header)) + header, payload


def _send_frame(
    sock: socket.socket, seq: int, op: str, arrays: Mapping[str, np.ndarray]
) -> int:
    """Send one frame; return the payload bytes sent."""
    head, payload = _encode(seq, op, arrays)
    sock.sendall(head)
    for part in payload:
        sock.sendall(part)
    return sum(part.nbytes for part in payload)


def _recv_frame(sock: socket.socket, seq: int, op: str) -> Arrays:
    magic, got_seq, header_len = _FRAME.unpack(_recv_exact(sock, _FRAME.size))
    if magic != _FRAME_MAGIC or header_len > _MAX_HEADER_BYTES:
        raise CollectiveError("malformed collective frame")
    header = json.loads(bytes(_recv_exact(sock, header_len)))
    if got_seq != seq or header.get("op") != op:
        raise CollectiveError(
            f"peer out of step: expected {op} #{seq}, got {header.get('op')} #{got_seq}"
        )
    out: Arrays = {}
    for entry in header["entries"]:
        dtype = entry["dtype"]
        if dtype not in _DTYPES:
            raise CollectiveError(f"peer sent dtype {dtype!r}")
        shape = tuple(int(s) for s in entry["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        raw = _recv_exact(sock, count * np.dtype(dtype).itemsize)
        out[entry["name"]] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return out


def _same_layout(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], *, rows: bool) -> bool:
    """Same names, dtypes and shapes (``rows=False`` lets the first axis differ)."""
    if sorted(a) != sorted(b):
        return False
    for name in a:
        x, y = a[name], b[name]
        if x.dtype.str != y.dtype.str or x.ndim != y.ndim:
            return False
        if (x.shape if rows else x.shape[1:]) != (y.shape if rows else y.shape[1:]):
            return False
    return True


def check_topology(topology: str, fanout: int) -> None:
    """Raise ValueError/TypeError unless ``topology`` and ``fanout`` are usable."""
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology={topology!r} must be one of {list(TOPOLOGIES)}")
    if isinstance(fanout, bool) or not isinstance(fanout, int | np.integer):
        raise TypeError(f"fanout={fanout!r} must be an integer >= 2")
    if fanout < 2:
        raise ValueError(f"fanout={fanout} must be an integer >= 2")


def tree_links(
    rank: int, world_size: int, topology: str = "tree", fanout: int = DEFAULT_FANOUT
) -> tuple[int | None, list[int]]:
    """``(parent, children)`` of ``rank``: parent None at rank 0, children ascending.

    In the k-nomial tree a rank's children are ``rank + j * fanout**m`` (j = 1 ..
    fanout-1) for every m below the position of its lowest non-zero digit (every m for
    rank 0), so each child's subtree is the contiguous range that follows it.
    """
    check_topology(topology, fanout)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    if topology == "star":
        return (None, list(range(1, world_size))) if rank == 0 else (0, [])
    span = 1  # fanout**(position of rank's lowest non-zero digit); unbounded at rank 0
    while rank and rank % (span * fanout) == 0:
        span *= fanout
    parent = None if rank == 0 else rank - rank % (span * fanout)
    children = []
    step = 1
    while (rank == 0 or step < span) and rank + step < world_size:
        children += [c for c in range(rank + step, rank + fanout * step, step) if c < world_size]
        step *= fanout
    return parent, children


class TcpAllreduce:
    """Allreduce / gather / broadcast between ``world_size`` ranks over a tree or a star.

    Parameters
    ----------
    rank, world_size : this task's position (the barrier partition id) and task count.
    rendezvous : called once with this rank's message; returns all messages in rank
        order (``BarrierTaskContext.allGather`` in Spark, a thread barrier in tests).
    host : the address a rank with children binds to; the executor's own, never 0.0.0.0.
    timeout : seconds any one socket operation may wait, including the wait for the
        slowest task to reach the next collective (so it must exceed an iteration).
    connect_timeout : seconds allowed, after the rendezvous, for this rank to connect
        to its parent and for all its children to connect and authenticate.
    topology : ``"tree"`` (k-nomial, see the module docstring) or ``"star"``.
    fanout : the tree's radix, >= 2; 2 is the binomial tree. Ignored by the star.

    Use as a context manager; ``allreduce`` is the callable the k-means core takes.
    ``rejected`` counts connections this rank's listener refused; ``bytes_sent`` and
    ``bytes_received`` count the array bytes this rank moved.
    """

    def __init__(
        self,
        rank: int,
        world_size: int,
        rendezvous: Rendezvous,
        *,
        host: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        topology: str = "tree",
        fanout: int = DEFAULT_FANOUT,
    ) -> None:
        self.parent, self.children = tree_links(rank, world_size, topology, fanout)
        self.rank = rank
        self.world_size = world_size
        self.topology = topology
        self.fanout = int(fanout)
        self.timeout = float(timeout)
        self.rejected = 0  # connections refused by this rank's listener
        self.bytes_sent = 0
        self.bytes_received = 0
        self._seq = 0
        self._child_socks: dict[int, socket.socket] = {}
        self._parent_sock: socket.socket | None = None
        self._closed = False
        if world_size == 1:
            return  # nothing to exchange; no socket, no rendezvous
        try:
            self._connect_tree(rendezvous, host, connect_timeout)
        except BaseException:
            self.close()
            raise
        log.debug("rank %d/%d joined the %s: parent %s, children %s", rank, world_size,
                  topology, self.parent, self.children)

    @classmethod
    def from_barrier_context(
        cls,
        ctx: Any = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        topology: str = "tree",
        fanout: int = DEFAULT_FANOUT,
    ) -> TcpAllreduce:
        """Build from the current ``BarrierTaskContext`` (call inside a barrier task)."""
        if ctx is None:
            from pyspark import BarrierTaskContext

            ctx = BarrierTaskContext.get()
        infos = ctx.getTaskInfos()
        rank = ctx.partitionId()
        # "host:port" of this task's executor; bind to the host part only.
        host = infos[rank].address.rsplit(":", 1)[0].strip("[]")
        return cls(
            rank,
            len(infos),
            ctx.allGather,
            host=host,
            timeout=timeout,
            connect_timeout=connect_timeout,
            topology=topology,
            fanout=fanout,
        )

    # -- set-up ---------------------------------------------------------------------

    def _connect_tree(self, rendezvous: Rendezvous, host: str, connect_timeout: float) -> None:
        """Listen (if this rank has children), rendezvous, connect up, then accept.

        Connecting up before accepting cannot deadlock: rank 0 only accepts, and a
        child's connection waits in its parent's backlog until the parent admits it.
        """
        listener = None
        secret = b""
        message = ""
        try:
            if self.children:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                listener = socket.socket(family, socket.SOCK_STREAM)
                listener.bind((host, 0))
                listener.listen(len(self.children) + 16)
                secret = secrets.token_bytes(32)
                port = listener.getsockname()[1]
                message = json.dumps({"host": host, "port": port, "secret": secret.hex()})
            messages = rendezvous(message)
            deadline = time.monotonic() + connect_timeout
            if self.parent is not None:
                self._parent_sock = self._connect_parent(messages, deadline)
            if listener is not None:
                self._accept_children(listener, secret, deadline, connect_timeout)
        finally:
            if listener is not None:
                listener.close()

    def _accept_children(
        self, listener: socket.socket, secret: bytes, deadline: float, connect_timeout: float
    ) -> None:
        while len(self._child_socks) < len(self.children):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(self.children) - set(self._child_socks))
                raise CollectiveError(
                    f"rank {self.rank}: ranks {missing} did not connect within "
                    f"{connect_timeout:.0f} s ({self.rejected} connections refused)"
                )
            listener.settimeout(remaining)
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            self._admit(conn, addr, secret, min(remaining, 10.0))

    def _admit(self, conn: socket.socket, addr: Any, secret: bytes, handshake_s: float) -> None:
        """Challenge one connection; keep it when it proves the secret, else close it."""
        conn.settimeout(handshake_s)
        try:
            nonce_s = secrets.token_bytes(_NONCE_BYTES)
            conn.sendall(_HELLO + nonce_s)
            reply = _recv_exact(conn, _RANK.size + _NONCE_BYTES + _MAC_BYTES)
            rank_b = bytes(reply[: _RANK.size])
            nonce_c = bytes(reply[_RANK.size : _RANK.size + _NONCE_BYTES])
            mac_c = bytes(reply[_RANK.size + _NONCE_BYTES :])
            (peer,) = _RANK.unpack(rank_b)
            if not hmac.compare_digest(mac_c, _mac(secret, b"client", nonce_s, rank_b, nonce_c)):
                raise PermissionError("wrong secret")
            if peer not in self.children or peer in self._child_socks:
                raise PermissionError(f"unexpected or duplicate rank {peer}")
            conn.sendall(_mac(secret, b"server", nonce_c, nonce_s, rank_b))
        except (OSError, PermissionError, struct.error) as exc:
            self.rejected += 1
            log.warning("rank %d refused a collective connection from %s: %s",
                        self.rank, addr, exc)
            conn.close()
            return
        conn.settimeout(self.timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._child_socks[peer] = conn

    def _connect_parent(self, messages: list[str], deadline: float) -> socket.socket:
        parent = self.parent
        try:
            info = json.loads(messages[parent])
            host, port, secret = info["host"], int(info["port"]), bytes.fromhex(info["secret"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise CollectiveError(
                f"rank {self.rank}: bad rendezvous message from rank {parent}"
            ) from exc
        while True:
            try:
                sock = socket.create_connection(
                    (host, port), timeout=max(1.0, deadline - time.monotonic())
                )
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise CollectiveError(
                        f"rank {self.rank}: cannot connect to rank {parent} at {host}:{port}: {exc}"
                    ) from exc
                time.sleep(0.2)
        try:
            # The parent may still be connecting to its own parent: wait up to the deadline.
            sock.settimeout(max(1.0, deadline - time.monotonic()))
            hello = _recv_exact(sock, len(_HELLO) + _NONCE_BYTES)
            if bytes(hello[: len(_HELLO)]) != _HELLO:
                raise CollectiveError(f"rank {self.rank}: {host}:{port} is not a bigseg collective")
            nonce_s = bytes(hello[len(_HELLO) :])
            rank_b = _RANK.pack(self.rank)
            nonce_c = secrets.token_bytes(_NONCE_BYTES)
            sock.sendall(rank_b + nonce_c + _mac(secret, b"client", nonce_s, rank_b, nonce_c))
            mac_s = bytes(_recv_exact(sock, _MAC_BYTES))
            # Mutual: a process squatting on the address cannot read our partials.
            if not hmac.compare_digest(mac_s, _mac(secret, b"server", nonce_c, nonce_s, rank_b)):
                raise CollectiveError(f"rank {self.rank}: rank {parent} failed authentication")
        except (OSError, CollectiveError) as exc:
            sock.close()
            if isinstance(exc, CollectiveError):
                raise
            raise CollectiveError(
                f"rank {self.rank}: handshake with rank {parent} failed: {exc}"
            ) from exc
        sock.settimeout(self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    # -- collectives ----------------------------------------------------------------

    def allreduce(self, arrays: Mapping[str, np.ndarray]) -> Arrays:
        """Sum float64 arrays over all ranks; every rank gets rank 0's bytes of the sum.

        Deterministic for a given world size and topology (see the module docstring).
        """
        for name, arr in arrays.items():
            if np.asarray(arr).dtype != np.float64:
                raise TypeError(
                    f"allreduce needs float64 arrays; {name!r} is {np.asarray(arr).dtype}"
                )

        def start(mine: Arrays) -> Arrays:
            return {name: np.array(arr, dtype=np.float64, copy=True) for name, arr in mine.items()}

        def add(total: Arrays, part: Arrays) -> Arrays:
            for name in total:
                total[name] += part[name]
            return total

        return self._exchange("allreduce", arrays, start, add, dict, rows=True, to_all=True)

    def gather(self, arrays: Mapping[str, np.ndarray]) -> Arrays | None:
        """Concatenate arrays along axis 0 in rank order; rank 0 gets the result, others None.

        Through the tree, each rank sends its subtree's rows (its own, then its children's
        in rank order); subtrees are contiguous rank ranges, so rank 0 ends in rank order.
        """

        def start(mine: Arrays) -> dict[str, list[np.ndarray]]:
            return {name: [arr] for name, arr in mine.items()}

        def add(blocks: dict[str, list[np.ndarray]], part: Arrays) -> dict:
            for name in blocks:
                blocks[name].append(part[name])
            return blocks

        def finish(blocks: dict[str, list[np.ndarray]]) -> Arrays:
            return {name: np.concatenate(parts, axis=0) for name, parts in blocks.items()}

        return self._exchange("gather", arrays, start, add, finish, rows=False, to_all=False)

    def broadcast(self, arrays: Mapping[str, np.ndarray] | None) -> Arrays:
        """Rank 0's arrays, delivered unchanged to every rank (others pass None)."""
        self._check_open()
        seq = self._next_seq()
        if self.world_size == 1:
            return {k: np.array(v, copy=True) for k, v in (arrays or {}).items()}
        peer = self.parent
        try:
            if self.rank == 0:
                if arrays is None:
                    raise ValueError("rank 0 must pass the arrays to broadcast")
                result = {k: np.array(v, copy=True) for k, v in arrays.items()}
            else:
                result = self._recv(self._parent_sock, seq, "broadcast")
            for peer in reversed(self.children):
                self._send(self._child_socks[peer], seq, "broadcast", result)
            return result
        except CollectiveError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            raise self._fail("broadcast", exc, peer) from exc

    __call__ = allreduce

    def _exchange(
        self,
        op: str,
        arrays: Mapping[str, np.ndarray],
        start: Callable[[Arrays], Any],
        add: Callable[[Any, Arrays], Any],
        finish: Callable[[Any], Arrays],
        *,
        rows: bool,
        to_all: bool,
    ) -> Arrays | None:
        """Fold children's partials into this rank's in child-rank order, send the result
        up; with ``to_all``, pass rank 0's final arrays back down."""
        self._check_open()
        seq = self._next_seq()
        mine = {k: np.asarray(v) for k, v in arrays.items()}
        acc = start(mine)
        if self.world_size == 1:
            return finish(acc)
        peer = None
        try:
            # Ascending child ranks: the smallest subtrees are ready first, and the
            # order of the sum is fixed for the world size.
            for peer in self.children:
                part = self._recv(self._child_socks[peer], seq, op)
                if not _same_layout(mine, part, rows=rows):
                    raise CollectiveError(
                        f"rank {peer} sent arrays of another layout to {op} at rank {self.rank}"
                    )
                acc = add(acc, part)
                del part
            partial = finish(acc)
            peer = self.parent
            if self.rank != 0:
                self._send(self._parent_sock, seq, op, partial)
                if not to_all:
                    return None
                partial = self._recv(self._parent_sock, seq, op)
            if to_all:
                # The largest subtree first: it has the longest way down.
                for peer in reversed(self.children):
                    self._send(self._child_socks[peer], seq, op, partial)
            return partial
        except CollectiveError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            raise self._fail(op, exc, peer) from exc

    def _send(self, sock: socket.socket, seq: int, op: str, arrays: Mapping) -> None:
        self.bytes_sent += _send_frame(sock, seq, op, arrays)

    def _recv(self, sock: socket.socket, seq: int, op: str) -> Arrays:
        out = _recv_frame(sock, seq, op)
        self.bytes_received += sum(a.nbytes for a in out.values())
        return out

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_open(self) -> None:
        if self._closed:
            raise CollectiveError("collective already closed")

    def _fail(self, op: str, exc: BaseException, peer: int | None = None) -> CollectiveError:
        where = f"rank {self.rank}" + (f" (talking to rank {peer})" if peer is not None else "")
        self.close()  # peers then see EOF at once instead of waiting for their timeout
        return CollectiveError(f"{op} failed at {where}: {type(exc).__name__}: {exc}")

    # -- life cycle -----------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in [*self._child_socks.values(), self._parent_sock]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self._child_socks.clear()
        self._parent_sock = None

    def __enter__(self) -> TcpAllreduce:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
