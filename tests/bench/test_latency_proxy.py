"""bench/latency_proxy.py, which the peer baseline's network figures rest on: every byte arrives,
in order, and a round trip through it costs at least the two delays it adds (never less: a
proxy that forgot to wait would make the ORM look slower than the network it stands for is not
the risk; one that dropped or reordered bytes, or added no delay, would falsify the figures)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROXY = ROOT / "bench/latency_proxy.py"


@contextmanager
def echo_server() -> Iterator[int]:
    """A TCP server that sends back what it reads, on each connection; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextmanager
def proxy(target_port: int, one_way_ms: float) -> Iterator[int]:
    process = subprocess.Popen(  # noqa: S603 (this interpreter, this repository's script)
        [
            sys.executable,
            str(PROXY),
            "--target",
            f"127.0.0.1:{target_port}",
            "--one-way-ms",
            str(one_way_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), line
        yield int(line.split()[1])
    finally:
        process.kill()
        process.wait()


def receive(conn: socket.socket, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = conn.recv(min(65536, size - got))
        assert chunk, "the proxy closed the connection early"
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def test_every_byte_comes_back_in_order_through_the_proxy() -> None:
    payload = os.urandom(3_000_000)  # many chunks each way, sent while others are held
    with (
        echo_server() as port,
        proxy(port, 2.0) as proxied,
        socket.create_connection(("127.0.0.1", proxied)) as conn,
    ):
        sender = threading.Thread(target=conn.sendall, args=(payload,))
        sender.start()
        echoed = receive(conn, len(payload))
        sender.join()
    assert echoed == payload


def test_a_round_trip_through_the_proxy_costs_at_least_both_delays() -> None:
    one_way_ms = 25.0
    with echo_server() as port, proxy(port, one_way_ms) as proxied:
        with socket.create_connection(("127.0.0.1", port)) as direct:
            started = time.perf_counter()
            direct.sendall(b"x")
            receive(direct, 1)
            direct_ms = (time.perf_counter() - started) * 1000
        with socket.create_connection(("127.0.0.1", proxied)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for _ in range(5):
                started = time.perf_counter()
                conn.sendall(b"x")
                receive(conn, 1)
                times.append((time.perf_counter() - started) * 1000)
    assert direct_ms < 2 * one_way_ms  # the echo itself is fast: the delay is the proxy's
    assert min(times) >= 2 * one_way_ms
    assert sorted(times)[2] < 2 * one_way_ms + 200  # held for the delay, not indefinitely
