#!/usr/bin/env python3
"""TCP uppercase client: sends one line over a connection and shows the answer.

Usage: python3 client.py HOST PORT

After connecting, the client reads one line from standard input (prompt
"Input lowercase sentence: ", echoed when standard input is not a terminal),
sends it, and prints the server's answer as "From server: <reply>".
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
            ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        except socket.gaierror as exc:
            print(f"client: cannot resolve {host}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        try:
            sock = socket.create_connection((ip, port), timeout=TIMEOUT)
        except OSError as exc:
            print(f"client: connect to {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        with sock:
            sentence = ask("Input lowercase sentence: ")
            if sentence is None:
                print("\nclient: no sentence on standard input", file=sys.stderr, flush=True)
                return 1
            try:
                sock.sendall(sentence.encode("utf-8") + b"\n")
                sock.shutdown(socket.SHUT_WR)
                sent += 1
                reply = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            except socket.timeout:
                print(f"client: no reply from {ip}:{port} within {TIMEOUT:g} s", file=sys.stderr, flush=True)
                return 1
            except OSError as exc:
                print(f"client: exchange with {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
                return 1
        if not reply:
            print(f"client: {ip}:{port} closed the connection without a reply", file=sys.stderr, flush=True)
            return 1
        print(f"From server: {reply.decode('utf-8', errors='replace').rstrip(chr(13) + chr(10))}", flush=True)
        return 0
    except KeyboardInterrupt:
        print(f"\nstopped after {sent} messages", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
