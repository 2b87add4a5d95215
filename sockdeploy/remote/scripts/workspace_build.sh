#!/bin/sh
# Run a build command in a run folder, its errors with its output.
# $1: run folder  $2: build command (sh)
exec 2>&1
cd "$1" || exit 93
exec /bin/sh -c "$2"
