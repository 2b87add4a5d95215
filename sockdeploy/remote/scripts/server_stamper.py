"""Run a server (its argv) with its output into a pipe; keep its head and tail, and when each line began.

Usage: python3 -S server_stamper.py HEAD,PIECE,LINES COMMAND [ARG...]

The first HEAD bytes of the output (at most LINES lines) go to server.log;
the rest to pieces server.log.1, server.log.2, ... of PIECE bytes (LINES
lines) each, of which only the newest two are kept: when piece K+1 begins,
piece K-1 is deleted and its size added to the count in server.cut
("ELIDED NEWEST", written when the head is full). So the disk holds at most
HEAD + 2 * PIECE bytes of log however long the server prints. For each line
of each piece, the time its first byte arrived goes to the piece's times file
(server.times, server.times.K): one line of times per line of the piece, an
unfinished last line included. log_join.sh joins the kept pieces into one log.

Starting the server itself means no line is written before it listens. It
ignores SIGTERM so that stopping the server's group still lets it write the
last lines; it ends at end of file, when every process of the group has gone,
and then creates log.closed. Runs on the server host's python3 (3.6 or
newer), started with -S. sockdeploy's own client logs are cut the same way
(sockdeploy/output/logcap.py).
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


def fit(chunk, size, newlines, limit, max_lines):
    """Return how many bytes of chunk a piece holding size bytes and newlines newlines still takes."""
    room = limit - size
    left = max_lines - newlines
    if room <= 0 or left <= 0:
        return 0
    end = min(room, len(chunk))
    if chunk.count(b"\n", 0, end) < left:
        return end
    at = -1
    for _ in range(left):
        at = chunk.find(b"\n", at + 1, end)
    return at + 1


class Piece:
    """One piece of the log (0: server.log itself) and its line times."""

    def __init__(self, index, limit, began):
        suffix = "" if index == 0 else "." + str(index)
        self.log = open("server.log" + suffix, "ab", buffering=0)
        self.times = open("server.times" + suffix, "a")
        self.limit = limit
        self.size = 0
        self.newlines = 0
        self.began = began  # when the unfinished line began (it may have begun in the piece before)

    def write(self, data, now):
        self.log.write(data)
        self.size += len(data)
        if self.began is None:
            self.began = now
        count = data.count(b"\n")
        self.newlines += count
        if count:
            # the first line ending here began earlier; the others began in this chunk
            self.times.write("%.6f\n" % self.began + ("%.6f\n" % now) * (count - 1))
            self.began = now
        if data.endswith(b"\n"):
            self.began = None
        self.times.flush()

    def close(self):
        """End the piece (an unfinished last line gets its time); return when that line began, or None."""
        if self.began is not None:
            self.times.write("%.6f\n" % self.began)
        self.times.close()
        self.log.close()
        return self.began


class Capped:
    """The server's output kept as the module docstring says."""

    def __init__(self, head, piece, lines):
        self.piece = piece
        self.lines = lines
        self.index = 0
        self.elided = 0
        self.sizes = {}
        self.current = Piece(0, head, None)

    def write(self, chunk, now):
        while chunk:
            cur = self.current
            n = fit(chunk, cur.size, cur.newlines, cur.limit, self.lines)
            if n == 0:
                self.next_piece()
                continue
            cur.write(chunk[:n], now)
            chunk = chunk[n:]

    def next_piece(self):
        """Start piece index+1; drop piece index-1 (never the head), counting its bytes as elided."""
        self.sizes[self.index] = self.current.size
        began = self.current.close()
        self.index += 1
        dropped = self.index - 2
        if dropped >= 1:
            self.elided += self.sizes.pop(dropped)
        # the count first: a stamper killed in between leaves a log that joins truly
        with open("server.cut.tmp", "w") as fh:
            fh.write("%d %d\n" % (self.elided, self.index))
        os.rename("server.cut.tmp", "server.cut")
        if dropped >= 1:
            for name in ("server.log.%d" % dropped, "server.times.%d" % dropped):
                try:
                    os.unlink(name)
                except OSError:
                    pass
        self.current = Piece(self.index, self.piece, began)

    def close(self):
        self.current.close()


def copy(r, capped):
    """Copy the pipe into the capped log until end of file."""
    while True:
        try:
            chunk = os.read(r, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        capped.write(chunk, time.time())


def main():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    head, piece, lines = (int(n) for n in sys.argv[1].split(","))
    capped = Capped(head, piece, lines)
    child, r = start(sys.argv[2:])
    copy(r, capped)
    capped.close()
    open("log.closed", "w").close()
    try:
        os.waitpid(child, 0)
    except OSError:
        pass


if __name__ == "__main__":
    main()
