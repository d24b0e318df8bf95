"""A TCP proxy that holds every chunk for a fixed time in each direction: a network on loopback.

A service and its database are on different machines in production (Supabase's PostgreSQL is
a managed server; sync workers and the peers' services run elsewhere), so each round trip
costs a network's latency, which a benchmark on loopback leaves out. This proxy adds it, the
same for every connection through it: each chunk read from one side is written to the other
``--one-way-ms`` after it was read (order kept; a large message streams, so it pays the delay
once, not once per chunk). What a round trip then costs is measured through the proxy and
reported beside the results (the proxy's own overhead included), never assumed.

    .venv/bin/python bench/latency_proxy.py --target 127.0.0.1:5432 --one-way-ms 0.25

prints ``listening <port>`` and serves until killed. ``bench/peer_baseline.py --one-way-ms``
starts it in a process of its own (its work does not share the benchmark's interpreter).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import socket
import sys
import threading
import time

CHUNK = 65536


def sharpen_sleeps() -> None:
    """Linux lets a sleep overrun by its timer slack (50 µs by default): set it to 1 ns."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        pr_set_timerslack = 29
        libc.prctl(pr_set_timerslack, 1, 0, 0, 0)


def pipe(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Reads from source; a writer thread sends each chunk to sink once its delay is over."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()

    def writer() -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, data = queue.popleft()
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while True:
        try:
            data = source.recv(CHUNK)
        except OSError:
            data = b""
        with ready:
            queue.append((time.perf_counter() + delay, data))
            ready.notify()
        if not data:
            break
    thread.join()


def serve_connection(client: socket.socket, target: tuple[str, int], delay: float) -> None:
    server = socket.create_connection(target)
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pipe, args=(server, client, delay), daemon=True)
    back.start()
    pipe(client, server, delay)
    back.join()
    client.close()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", required=True, help="host:port to forward to")
    parser.add_argument("--one-way-ms", type=float, required=True, help="delay each way")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (0: any free port)")
    args = parser.parse_args(argv)
    if args.one_way_ms < 0:
        raise SystemExit("--one-way-ms must be >= 0")
    host, port = args.target.rsplit(":", 1)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    sharpen_sleeps()
    listener = socket.create_server((listen_host, int(listen_port)))
    print(f"listening {listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(
            target=serve_connection,
            args=(client, (host, int(port)), args.one_way_ms / 1000),
            daemon=True,
        ).start()


if __name__ == "__main__":
    sys.exit(main())
