"""Run a server (its argv) with its output into a pipe; log each line and when it began.

Copies the output to server.log unchanged and appends, for each line, the time
its first byte arrived to server.times. Starting the server itself means no
line is written before it listens. It ignores SIGTERM so that stopping the
server's group still lets it write the last lines; it ends at end of file,
when every process of the group has gone, and then creates log.closed.
Runs on the server host's python3 (3.6 or newer), started with -S.
"""
import os
import signal
import sys
import time


def start(argv):
    """Fork and exec argv with stdout and stderr into a new pipe; return (pid, read end)."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    return child, r


def copy(r, log, times):
    """Copy the pipe to log until end of file, writing each line's start time to times."""
    began = None
    while True:
        try:
            chunk = os.read(r, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        now = time.time()
        log.write(chunk)
        if began is None:
            began = now
        for _ in range(chunk.count(b"\n")):
            times.write(f"{began:.6f}\n")
            began = now
        if chunk.endswith(b"\n"):
            began = None
        times.flush()
    if began is not None:
        times.write(f"{began:.6f}\n")


def main():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child, r = start(sys.argv[1:])
    log = open("server.log", "ab", buffering=0)
    times = open("server.times", "a")
    copy(r, log, times)
    times.close()
    log.close()
    open("log.closed", "w").close()
    try:
        os.waitpid(child, 0)
    except OSError:
        pass


main()
