from sockdeploy.errors import ProgramError
from sockdeploy.run.exitstatus import describe_status, program_failure


def test_describe_status():
    assert describe_status(None) == "unknown status"
    assert describe_status(3) == "exit status 3"
    assert describe_status(130) == "killed by SIGINT"
    assert describe_status(137) == "killed by SIGKILL"
    assert describe_status(128 + 200) == "killed by signal 200"


def test_program_failure_names_the_program_and_how_it_ended():
    err = program_failure("server", "./server 1", 139, "boom", "fix it")
    assert isinstance(err, ProgramError)
    assert err.message == "the server `./server 1` ended with killed by SIGSEGV"
    assert err.hint == "fix it" and err.exit_status == 139 and err.output == "boom"
