#!/usr/bin/env python3
"""TCP uppercase server: answers each connection's line in capital letters.

Usage: python3 server.py PORT [MAX]

Each client connects, sends one line and gets it back uppercased; the server
prints 'received "<text>" from IP:PORT' for it and closes that connection.
With MAX it exits (status 0) after that many connections; without it, it
serves until stopped with Ctrl-C (SIGINT) or SIGTERM.
"""

import signal
import socket
import sys

USAGE = "usage: python3 server.py PORT [MAX]"
LINE_LIMIT = 64 * 1024
CLIENT_TIMEOUT = 10.0


def number(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None


def parse_args(argv):
    if len(argv) not in (2, 3):
        raise ValueError("expected a port and an optional connection count")
    port = number(argv[1], "PORT")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    limit = None
    if len(argv) == 3:
        limit = number(argv[2], "MAX")
        if limit < 1:
            raise ValueError(f"MAX must be a positive number, not {limit}")
    return port, limit


def read_line(conn):
    """Collect bytes up to the first newline (or end of stream, or the size limit).

    Returns None when the peer closed without sending a single byte.
    """
    data = b""
    while b"\n" not in data and len(data) < LINE_LIMIT:
        chunk = conn.recv(4096)
        if not chunk:
            if not data:
                return None
            break
        data += chunk
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def finish(conn):
    """Signal the end of the reply; the peer may already be gone, which is fine."""
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main(argv):
    try:
        port, limit = parse_args(argv)
    except ValueError as exc:
        print(f"{USAGE}\nserver: {exc}", file=sys.stderr, flush=True)
        return 2
    # Ctrl-C (SIGINT) and SIGTERM both end the program cleanly; SIGINT is set explicitly
    # because a program started in the background may inherit it as ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)

    handled = 0
    listener = None
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("", port))
            listener.listen(1)
        except OSError as exc:
            print(f"server: cannot listen on TCP port {port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        print(f"ready to receive on TCP port {port}", flush=True)

        while limit is None or handled < limit:
            conn, (peer_ip, peer_port) = listener.accept()
            with conn:
                conn.settimeout(CLIENT_TIMEOUT)
                try:
                    raw = read_line(conn)
                    if raw is None:
                        print(f"connection from {peer_ip}:{peer_port} closed without a sentence", flush=True)
                    else:
                        text = raw.decode("utf-8", errors="replace")
                        print(f'received "{text}" from {peer_ip}:{peer_port}', flush=True)
                        conn.sendall(text.upper().encode("utf-8") + b"\n")
                        finish(conn)
                except OSError as exc:
                    print(f"server: connection from {peer_ip}:{peer_port} failed: {exc.strerror or exc}",
                          file=sys.stderr, flush=True)
            handled += 1
        print(f"handled {handled} connections, exiting", flush=True)
        return 0
    except KeyboardInterrupt:
        print(f"stopped after {handled} messages", flush=True)
        return 0
    finally:
        if listener is not None:
            listener.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
