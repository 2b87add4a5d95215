#!/usr/bin/env python3
"""UDP sender: sends "message <n>" every half second until stopped.

Usage: python3 client.py IP PORT

Each datagram is reported as "sent message <n>"; each answer "ACK <n>" from
the server is reported as "got ACK <n>". Waiting for answers never delays the
next datagram, so a lost reply only shows up as a missing "got ACK" line. The
client runs until Ctrl-C (SIGINT) or SIGTERM, then prints a summary and exits 0.
"""

import signal
import socket
import sys
import time

USAGE = "usage: python3 client.py IP PORT"
INTERVAL = 0.5


def number(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None


def parse_args(argv):
    if len(argv) != 3:
        raise ValueError("expected the server's IP address and port")
    port = number(argv[2], "PORT")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    return argv[1], port


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def collect_replies(sock, deadline, counts):
    """Print every reply that arrives before `deadline` (a time.monotonic() value)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except socket.timeout:
            return
        except ConnectionRefusedError:
            # an ICMP "port unreachable" for an earlier datagram: nobody listens (yet)
            print("client: no server is listening (port unreachable)", file=sys.stderr, flush=True)
            continue
        counts["acks"] += 1
        print(f"got {data.decode('utf-8', errors='replace')}", flush=True)


def send(sock, payload, ip, port):
    """Send one datagram; False after an error that ends the client."""
    for _attempt in range(2):
        try:
            sock.send(payload)
            return True
        except ConnectionRefusedError:
            # a pending ICMP "port unreachable" from an earlier datagram; it is cleared now, so try again
            print("client: no server is listening (port unreachable)", file=sys.stderr, flush=True)
        except OSError as exc:
            print(f"client: send to {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return False
    return True


def main(argv):
    try:
        host, port = parse_args(argv)
    except ValueError as exc:
        print(f"{USAGE}\nclient: {exc}", file=sys.stderr, flush=True)
        return 2
    # Ctrl-C (SIGINT) and SIGTERM both end the program cleanly; SIGINT is set explicitly
    # because a program started in the background may inherit it as ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)

    counts = {"sent": 0, "acks": 0}
    try:
        try:
            ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
        except socket.gaierror as exc:
            print(f"client: cannot resolve {host}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                # a connected datagram socket only accepts replies from the server's address
                sock.connect((ip, port))
            except OSError as exc:
                print(f"client: connect to {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
                return 1
            next_send = time.monotonic()
            while True:
                seq = counts["sent"] + 1
                if not send(sock, f"message {seq}".encode(), ip, port):
                    return 1
                counts["sent"] = seq
                print(f"sent message {seq}", flush=True)
                next_send += INTERVAL
                collect_replies(sock, next_send, counts)
    except KeyboardInterrupt:
        print(f"stopped after {counts['sent']} messages ({counts['acks']} ACKs received)", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
