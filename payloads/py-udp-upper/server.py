#!/usr/bin/env python3
"""UDP uppercase server: sends every datagram back in capital letters.

Usage: python3 server.py PORT [MAX]

For each datagram the server prints 'received "<text>" from IP:PORT' and
returns the text uppercased to the sender. With MAX it exits (status 0) after
that many datagrams; without it, it serves until stopped with Ctrl-C (SIGINT)
or SIGTERM.
"""

import signal
import socket
import sys

USAGE = "usage: python3 server.py PORT [MAX]"


def number(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None


def parse_args(argv):
    if len(argv) not in (2, 3):
        raise ValueError("expected a port and an optional datagram count")
    port = number(argv[1], "PORT")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    limit = None
    if len(argv) == 3:
        limit = number(argv[2], "MAX")
        if limit < 1:
            raise ValueError(f"MAX must be a positive number, not {limit}")
    return port, limit


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
    sock = None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("", port))
        except OSError as exc:
            print(f"server: cannot bind UDP port {port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        print(f"ready to receive on UDP port {port}", flush=True)

        while limit is None or handled < limit:
            data, (peer_ip, peer_port) = sock.recvfrom(65535)
            handled += 1
            text = data.decode("utf-8", errors="replace")
            print(f'received "{text}" from {peer_ip}:{peer_port}', flush=True)
            try:
                sock.sendto(text.upper().encode("utf-8"), (peer_ip, peer_port))
            except OSError as exc:
                print(f"server: reply to {peer_ip}:{peer_port} failed: {exc.strerror or exc}",
                      file=sys.stderr, flush=True)
        print(f"handled {handled} datagrams, exiting", flush=True)
        return 0
    except KeyboardInterrupt:
        print(f"stopped after {handled} messages", flush=True)
        return 0
    finally:
        if sock is not None:
            sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
