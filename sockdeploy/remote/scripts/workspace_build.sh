#!/bin/sh
# Run a build command in a run folder, its errors with its output (after run_procs.sh).
# $1: run folder  $2: build command (sh)
# stdin: the run's token (read_token): the build's processes carry SOCKDEPLOY_RUN=build:TOKEN,
# and those still running when it ends (background jobs, daemons) are stopped and named in
# SD-STRAY lines after its output.
exec 2>&1
tok=$(read_token)
cd "$1" || exit 93
if [ -n "$tok" ]; then SOCKDEPLOY_RUN="build:$tok"; export SOCKDEPLOY_RUN; fi
/bin/sh -c "$2" </dev/null; s=$?
stop_tagged "$tok" build ""
exit "$s"
