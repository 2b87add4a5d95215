#!/usr/bin/env python3
"""UDP uppercase client: sends one line to the server and shows what comes back.

Usage: python3 client.py HOST PORT

The line is read from standard input after the prompt
"Input lowercase sentence: " (echoed when standard input is not a terminal, so
the transcript shows it), sent as one datagram, and the answer is printed as
"From server: <reply>". No answer within 10 seconds is an error.
"""

import signal
import socket
import sys

USAGE = "usage: python3 client.py HOST PORT"
TIMEOUT = 10.0


def number(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None


def parse_args(argv):
    if len(argv) != 3:
        raise ValueError("expected the server's host and port")
    port = number(argv[2], "PORT")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    return argv[1], port


def ask(prompt):
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if not line:
        return None
    if not sys.stdin.isatty():
        print(line.rstrip("\n"), flush=True)
    return line.rstrip("\r\n")


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main(argv):
    try:
        host, port = parse_args(argv)
    except ValueError as exc:
        print(f"{USAGE}\nclient: {exc}", file=sys.stderr, flush=True)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)

    sent = 0
    try:
        try:
            ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
        except socket.gaierror as exc:
            print(f"client: cannot resolve {host}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        sentence = ask("Input lowercase sentence: ")
        if sentence is None:
            print("\nclient: no sentence on standard input", file=sys.stderr, flush=True)
            return 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            try:
                # connected: only the server's own address can answer, and an ICMP error is reported
                sock.connect((ip, port))
                sock.send(sentence.encode("utf-8"))
                sent += 1
                reply = sock.recv(65535)
            except socket.timeout:
                print(f"client: no reply from {ip}:{port} within {TIMEOUT:g} s", file=sys.stderr, flush=True)
                return 1
            except OSError as exc:
                print(f"client: exchange with {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
                return 1
        print(f"From server: {reply.decode('utf-8', errors='replace')}", flush=True)
        return 0
    except KeyboardInterrupt:
        print(f"\nstopped after {sent} messages", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
