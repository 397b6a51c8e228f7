"""Collectives between the tasks of one Spark barrier stage, over direct TCP.

Why not ``BarrierTaskContext.allGather`` every iteration: in Spark 4.3 each allGather
waits in the barrier RPC's fixed one-second sleep loop, so an iteration that FAISS does
in 0.1 s would cost over 1 s. Here allGather is used exactly once, for the rendezvous:

1. Task 0 binds a listening socket on its executor's own address (never 0.0.0.0) and
   draws a fresh 32-byte secret for this stage attempt.
2. One allGather shares ``(host, port, secret)`` from task 0; the other tasks send "".
3. Every other task connects to task 0 and both sides prove knowledge of the secret
   with an HMAC-SHA256 challenge-response (the secret itself never crosses the TCP
   connection; a peer without it is refused before it can send or read a partial).
4. Each collective call: the tasks send their arrays to task 0, which combines them in
   task (rank) order and sends the same result back to every task.

Connections are authenticated, not encrypted: what crosses them is sums of feature rows,
never rows, except the initialisation sample (see ``gather``). Every socket operation
has a timeout, and any failure raises :class:`CollectiveError` inside the task, so the
barrier stage fails as a whole and Spark reruns it.

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


def _send_frame(sock: socket.socket, seq: int, op: str, arrays: Mapping[str, np.ndarray]) -> None:
    head, payload = _encode(seq, op, arrays)
    sock.sendall(head)
    for part in payload:
        sock.sendall(part)


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


class TcpAllreduce:
    """Allreduce / gather / broadcast between ``world_size`` ranks through rank 0.

    Parameters
    ----------
    rank, world_size : this task's position (the barrier partition id) and task count.
    rendezvous : called once with this rank's message; returns all messages in rank
        order (``BarrierTaskContext.allGather`` in Spark, a thread barrier in tests).
    host : the address rank 0 binds to; the executor's own address, never 0.0.0.0.
    timeout : seconds any one socket operation may wait, including the wait for the
        slowest task to reach the next collective (so it must exceed an iteration).
    connect_timeout : seconds allowed for all peers to connect and authenticate.

    Use as a context manager; ``allreduce`` is the callable the k-means core takes.
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
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
        self.rank = rank
        self.world_size = world_size
        self.timeout = float(timeout)
        self.rejected = 0  # connections refused by rank 0 (bad secret, bad rank, garbage)
        self._seq = 0
        self._peers: dict[int, socket.socket] = {}  # rank 0: rank -> connection
        self._server: socket.socket | None = None  # ranks > 0: connection to rank 0
        self._closed = False
        if world_size == 1:
            return  # nothing to exchange; no socket, no rendezvous
        try:
            if rank == 0:
                self._start_server(rendezvous, host, connect_timeout)
            else:
                self._start_client(rendezvous, connect_timeout)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_barrier_context(
        cls,
        ctx: Any = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
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
        )

    # -- set-up ---------------------------------------------------------------------

    def _start_server(self, rendezvous: Rendezvous, host: str, connect_timeout: float) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((host, 0))
            listener.listen(self.world_size + 16)
            port = listener.getsockname()[1]
            secret = secrets.token_bytes(32)
            rendezvous(json.dumps({"host": host, "port": port, "secret": secret.hex()}))
            deadline = time.monotonic() + connect_timeout
            while len(self._peers) < self.world_size - 1:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(set(range(1, self.world_size)) - set(self._peers))
                    raise CollectiveError(
                        f"rank 0: ranks {missing} did not connect within {connect_timeout:.0f} s "
                        f"({self.rejected} connections refused)"
                    )
                listener.settimeout(remaining)
                try:
                    conn, addr = listener.accept()
                except TimeoutError:
                    continue
                self._admit(conn, addr, secret, min(remaining, 10.0))
        finally:
            listener.close()

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
            if not 0 < peer < self.world_size or peer in self._peers:
                raise PermissionError(f"unexpected or duplicate rank {peer}")
            conn.sendall(_mac(secret, b"server", nonce_c, nonce_s, rank_b))
        except (OSError, PermissionError, struct.error) as exc:
            self.rejected += 1
            log.warning("rank 0 refused a collective connection from %s: %s", addr, exc)
            conn.close()
            return
        conn.settimeout(self.timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peers[peer] = conn

    def _start_client(self, rendezvous: Rendezvous, connect_timeout: float) -> None:
        messages = rendezvous("")
        try:
            info = json.loads(messages[0])
            host, port, secret = info["host"], int(info["port"]), bytes.fromhex(info["secret"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise CollectiveError(f"rank {self.rank}: bad rendezvous message from rank 0") from exc
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                sock = socket.create_connection(
                    (host, port), timeout=max(1.0, deadline - time.monotonic())
                )
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise CollectiveError(
                        f"rank {self.rank}: cannot connect to rank 0 at {host}:{port}: {exc}"
                    ) from exc
                time.sleep(0.2)
        try:
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
                raise CollectiveError(f"rank {self.rank}: rank 0 failed authentication")
        except (OSError, CollectiveError) as exc:
            sock.close()
            if isinstance(exc, CollectiveError):
                raise
            raise CollectiveError(f"rank {self.rank}: handshake with rank 0 failed: {exc}") from exc
        sock.settimeout(self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server = sock

    # -- collectives ----------------------------------------------------------------

    def allreduce(self, arrays: Mapping[str, np.ndarray]) -> Arrays:
        """Sum float64 arrays over all ranks, in rank order; every rank gets the same sums."""
        for name, arr in arrays.items():
            if np.asarray(arr).dtype != np.float64:
                raise TypeError(
                    f"allreduce needs float64 arrays; {name!r} is {np.asarray(arr).dtype}"
                )

        def combine(parts: list[Arrays]) -> Arrays:
            total = {
                name: np.array(arr, dtype=np.float64, copy=True) for name, arr in parts[0].items()
            }
            for part in parts[1:]:
                for name in total:
                    total[name] += part[name]
            return total

        return self._exchange("allreduce", arrays, combine, rows=True, to_all=True)

    def gather(self, arrays: Mapping[str, np.ndarray]) -> Arrays | None:
        """Concatenate arrays along axis 0 in rank order; rank 0 gets the result, others None."""

        def combine(parts: list[Arrays]) -> Arrays:
            return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}

        return self._exchange("gather", arrays, combine, rows=False, to_all=False)

    def broadcast(self, arrays: Mapping[str, np.ndarray] | None) -> Arrays:
        """Rank 0's arrays, delivered unchanged to every rank (others pass None)."""
        self._check_open()
        seq = self._next_seq()
        if self.world_size == 1:
            return {k: np.array(v, copy=True) for k, v in (arrays or {}).items()}
        try:
            if self.rank == 0:
                if arrays is None:
                    raise ValueError("rank 0 must pass the arrays to broadcast")
                for peer in range(1, self.world_size):
                    _send_frame(self._peers[peer], seq, "broadcast", arrays)
                return {k: np.array(v, copy=True) for k, v in arrays.items()}
            return _recv_frame(self._server, seq, "broadcast")
        except CollectiveError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            raise self._fail("broadcast", exc) from exc

    __call__ = allreduce

    def _exchange(
        self,
        op: str,
        arrays: Mapping[str, np.ndarray],
        combine: Callable[[list[Arrays]], Arrays],
        *,
        rows: bool,
        to_all: bool,
    ) -> Arrays | None:
        self._check_open()
        seq = self._next_seq()
        mine = {k: np.asarray(v) for k, v in arrays.items()}
        if self.world_size == 1:
            return combine([mine])
        peer = 0
        try:
            if self.rank == 0:
                parts = [mine]
                for peer in range(1, self.world_size):
                    part = _recv_frame(self._peers[peer], seq, op)
                    if not _same_layout(mine, part, rows=rows):
                        raise CollectiveError(f"rank {peer} sent arrays of another layout to {op}")
                    parts.append(part)
                result = combine(parts)
                if to_all:
                    for peer in range(1, self.world_size):
                        _send_frame(self._peers[peer], seq, op, result)
                return result
            _send_frame(self._server, seq, op, mine)
            return _recv_frame(self._server, seq, op) if to_all else None
        except CollectiveError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            raise self._fail(op, exc, peer) from exc

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_open(self) -> None:
        if self._closed:
            raise CollectiveError("collective already closed")

    def _fail(self, op: str, exc: BaseException, peer: int = 0) -> CollectiveError:
        where = f"rank {self.rank}" + (f" (talking to rank {peer})" if self.rank == 0 else "")
        self.close()  # peers then see EOF at once instead of waiting for their timeout
        return CollectiveError(f"{op} failed at {where}: {type(exc).__name__}: {exc}")

    # -- life cycle -----------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in [*self._peers.values(), self._server]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self._peers.clear()
        self._server = None

    def __enter__(self) -> TcpAllreduce:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
