"""ThreadGroup: the owner's threads, joined on close; none started after it."""

import threading

from sockdeploy.net.threads import ThreadGroup


def test_close_joins_the_running_threads_and_refuses_new_ones():
    group, release, ran = ThreadGroup(), threading.Event(), []
    assert group.start(lambda: (release.wait(5), ran.append(1)), name="sockdeploy-test")
    assert group.busy and [t.name for t in group.running()] == ["sockdeploy-test"]
    threading.Timer(0.05, release.set).start()
    group.close(timeout=5)
    assert ran == [1] and not group.busy
    assert not group.start(ran.append, 2, name="sockdeploy-test")
    assert ran == [1]


def test_a_finished_thread_leaves_the_group():
    group = ThreadGroup()
    group.start(lambda: None, name="sockdeploy-test")
    group.close()
    assert group.running() == []


def test_the_group_is_a_context_manager_that_joins_on_exit():
    done = []
    with ThreadGroup() as group:
        group.start(lambda: (threading.Event().wait(0.05), done.append(1)), name="sockdeploy-test")
    assert done == [1] and not group.busy
