#!/usr/bin/env python3
"""UDP acknowledging server: shows each datagram and answers "ACK <n>".

Usage: python3 server.py PORT [MAX]

For every datagram the server prints 'received "<text>" from IP:PORT' and
sends back "ACK <n>", where n is the sequence number at the end of the text
("message 7" is answered with "ACK 7"; text without a number gets a plain
"ACK"). With MAX it exits (status 0) after that many datagrams; without it,
it serves until stopped with Ctrl-C (SIGINT) or SIGTERM.
"""

import re
import signal
import socket
import sys

USAGE = "usage: python3 server.py PORT [MAX]"
SEQUENCE = re.compile(r"(\d+)\s*$")


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


def acknowledgement(text):
    match = SEQUENCE.search(text)
    return f"ACK {match.group(1)}" if match else "ACK"


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
        print(f"listening on UDP port {port}", flush=True)

        while limit is None or handled < limit:
            data, (peer_ip, peer_port) = sock.recvfrom(65535)
            handled += 1
            text = data.decode("utf-8", errors="replace")
            print(f'received "{text}" from {peer_ip}:{peer_port}', flush=True)
            try:
                sock.sendto(acknowledgement(text).encode(), (peer_ip, peer_port))
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
