"""Tunnel throughput and latency: a sink/echo server and the two measuring clients.

    tunnelperf.py serve HOST PORT               # on the login host (campus namespace)
    tunnelperf.py bulk HOST PORT MEGABYTES      # prints JSON: seconds, bytes, MB/s
    tunnelperf.py ping HOST PORT COUNT SIZE     # prints JSON: per-pair latencies (ms)

The first byte of a connection picks the mode: b"B" sends bytes until EOF and gets
back the count the server received (so the time covers delivery, not just the local
socket buffer); b"P" exchanges COUNT messages of SIZE bytes, each echoed before the
next is sent (one connection, so only the request/response pairs are timed).
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import threading
import time
from typing import List

BLOCK = 256 * 1024


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise ConnectionError("peer closed early")
        buf += got
    return bytes(buf)


def _serve_one(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = conn.recv(1)
        if mode == b"B":
            total = 0
            while True:
                got = conn.recv(BLOCK)
                if not got:
                    break
                total += len(got)
            conn.sendall(f"{total}\n".encode())
        elif mode == b"P":
            size = int(_recv_exact(conn, 8))
            while True:
                try:
                    msg = _recv_exact(conn, size)
                except ConnectionError:
                    return
                conn.sendall(msg)


def serve(host: str, port: int) -> int:
    """Accept connections forever, one thread each."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(16)
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


def bulk(host: str, port: int, megabytes: float) -> dict:
    """Send `megabytes` MB and wait for the server's count; return the rate."""
    total = int(megabytes * 1024 * 1024)
    block = b"\xa5" * BLOCK
    start = time.perf_counter()
    with socket.create_connection((host, port), timeout=120) as s:
        s.sendall(b"B")
        left = total
        while left > 0:
            n = min(left, BLOCK)
            s.sendall(block[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            got = s.recv(64)
            if not got:
                break
            reply += got
    seconds = time.perf_counter() - start
    received = int(reply.strip() or 0)
    if received != total:
        raise SystemExit(f"bulk: the server received {received} of {total} bytes")
    return {"bytes": total, "seconds": seconds, "mb_per_s": total / 1024 / 1024 / seconds}


def ping(host: str, port: int, count: int, size: int) -> dict:
    """Exchange `count` echoes of `size` bytes over one connection; return the latencies."""
    msg = b"x" * size
    times: List[float] = []
    with socket.create_connection((host, port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"P" + f"{size:08d}".encode())
        s.sendall(msg)  # one untimed pair: the tunnel's channel open is not a small message
        _recv_exact(s, size)
        for _ in range(count):
            t = time.perf_counter()
            s.sendall(msg)
            _recv_exact(s, size)
            times.append((time.perf_counter() - t) * 1000)
    return {"count": count, "size": size, "median_ms": statistics.median(times), "min_ms": min(times),
            "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))], "ms": times}


def main(argv: List[str]) -> int:
    """Dispatch on the first argument."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "serve":
        return serve(rest[0], int(rest[1]))
    if cmd == "bulk":
        print(json.dumps(bulk(rest[0], int(rest[1]), float(rest[2]))))
        return 0
    if cmd == "ping":
        print(json.dumps(ping(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
