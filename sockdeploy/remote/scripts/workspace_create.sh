#!/bin/sh
# Make a private run folder and unpack the tar on stdin into it (after run_procs.sh).
# $1: the work folder (a leading ~ is $HOME)  $2: the folder name's prefix
# $3: minutes after which a run whose heartbeat stopped is over (for the sweep of crashed runs;
#     only with prefix run-)
# Prints SD-WARN when the work folder is shared, SD-DIR and SD-INODE, then SD-PORTS and the
# host's socket tables; SD-UNSAFE and exit 95 for a work folder others could swap the run folder
# in; SD-SWAPPED and exit 96 when the new folder is not ours; SD-ERR and exit 91-94 or 97 on
# other failures.
umask 077
base=$(home_path "$1")
if ! mkdir -p -- "$base" 2>/dev/null; then echo "SD-ERR cannot create $base"; exit 91; fi
# Other users who can write the work folder can rename our run folder and put theirs in its place,
# unless the sticky bit keeps them to their own entries (and the folder is not theirs).
# shellcheck disable=SC2012
mode=$(ls -ldn -- "$base/." 2>/dev/null | awk 'NR == 1 { print substr($1, 1, 10) " " $3 }')
case $mode in
  ?????w????\ *|????????w?\ *)
    case $mode in
      ?????????[tT]\ 0|?????????[tT]\ "$(id -u)") echo "SD-WARN $base is shared with other users; a private folder such as ~/.sockdeploy is safer" ;;
      ?????????[tT]\ *) echo "SD-UNSAFE $base belongs to another user, who could swap the run folder made in it"; exit 95 ;;
      *) echo "SD-UNSAFE $base can be written by other users and lacks the sticky bit: another user could swap the run folder"; exit 95 ;;
    esac ;;
esac
[ "$2" = run- ] && sweep_stale "$base" "$3"
if ! d=$(mktemp -d "$base/$2XXXXXXXXXX" 2>/dev/null); then
  echo "SD-ERR cannot create a directory in $base (not writable, or disk full?)"; exit 92
fi
cd "$d" || exit 93
# checked where we are, not by name: a name can be made to lead elsewhere between two looks
chmod 700 .
if ! dir_private .; then echo "SD-SWAPPED $d is not the private folder just made"; exit 96; fi
machine_id > .sockdeploy-run
# -k: the upload cannot replace the marker; names only sockdeploy writes are refused below
if ! err=$(tar xkof - 2>&1); then
  cd / || exit 94
  rm -rf -- "$d"
  free=$(df -Pk "$base" 2>/dev/null | awk 'NR==2 {print $4}')
  echo "SD-ERR cannot write the sources into $base (${free:-?} KiB free; disk full or quota?): $(printf %s "$err" | tr '\n' ' ')"
  exit 94
fi
if planted=$(planted_control); then
  cd / && rm -rf -- "$d"
  echo "SD-ERR the upload holds $planted, a name sockdeploy keeps for its own files in the run folder"
  exit 97
fi
echo "SD-DIR $d"
echo "SD-INODE $(inode_of .)"
echo "SD-PORTS"
cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null || netstat -an 2>/dev/null
