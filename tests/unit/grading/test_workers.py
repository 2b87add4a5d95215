"""The batch's worker threads: every job once, none after a stop, all joined on close."""

from __future__ import annotations

import threading
import time
from typing import List

from sockdeploy.grading.workers import Workers


def test_every_job_runs_once_and_the_threads_are_joined():
    done: List[int] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        time.sleep(0.01)
        with lock:
            done.append(i)

    with Workers(3, range(10), job, lambda: False) as workers:
        workers.wait()
    assert sorted(done) == list(range(10))
    assert not any(t.is_alive() for t in workers._threads)


def test_a_stop_starts_no_new_job_but_lets_the_running_ones_finish():
    stopped = threading.Event()
    done: List[int] = []

    def job(i: int) -> None:
        stopped.set()  # the first job stops the batch
        time.sleep(0.05)
        done.append(i)

    with Workers(1, range(5), job, stopped.is_set):
        pass  # leaving the block joins the worker
    assert done == [0]


def test_close_joins_without_start_raising():
    workers = Workers(2, [], lambda i: None, lambda: False)
    workers.start()
    workers.close()
    assert not any(t.is_alive() for t in workers._threads)
