#!/bin/sh
# Enter a run folder and check that it is still the one sockdeploy made (after run_procs.sh, in
# front of the program that works in it: workspace_build.sh, server_start.sh).
# $1: the folder's inode number as made  $2: the run folder  $3...: the next program's own
# arguments after its folder.
# The next program gets "." as its folder: this shell is in the folder checked, and a path looked
# up again could lead elsewhere. Prints SD-SWAPPED and exits 96 when the folder is not this
# user's, is not 0700 or is another folder than the one made (swapped by someone who can write
# the work folder); nothing else runs then.
sw_want=$1
shift
cd "$1" 2>/dev/null || exit 93
if ! dir_private . || [ "$(inode_of .)" != "$sw_want" ]; then
  echo "SD-SWAPPED $1 is not the private folder sockdeploy made (its owner, mode or inode changed)"
  exit 96
fi
shift
set -- . "$@"
