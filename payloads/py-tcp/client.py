#!/usr/bin/env python3
"""TCP message client: asks for one line, sends it to the server, shows the answer.

Usage: python3 client.py HOST PORT

HOST is an IPv4 address or a name. The line is read from standard input after
the prompt "Please enter the message: "; when standard input is not a terminal
the line is echoed so the transcript shows what was sent.
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
        raise ValueError("expected a host and a port")
    port = number(argv[2], "PORT")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    return argv[1], port


def resolve(host, port):
    """Return the numeric IPv4 address for host (the server listens on IPv4)."""
    infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    return infos[0][4][0]


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
    # Ctrl-C (SIGINT) and SIGTERM both end the program cleanly; SIGINT is set explicitly
    # because a program started in the background may inherit it as ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)

    sent = 0
    try:
        try:
            ip = resolve(host, port)
        except socket.gaierror as exc:
            print(f"client: cannot resolve {host}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        try:
            sock = socket.create_connection((ip, port), timeout=TIMEOUT)
        except OSError as exc:
            print(f"client: connect to {ip}:{port} failed: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 1
        with sock:
            message = ask("Please enter the message: ")
            if message is None:
                print("\nclient: no message on standard input", file=sys.stderr, flush=True)
                return 1
            try:
                sock.sendall(message.encode("utf-8") + b"\n")
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
        print(reply.decode("utf-8", errors="replace").rstrip("\r\n"), flush=True)
        return 0
    except KeyboardInterrupt:
        print(f"\nstopped after {sent} messages", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
