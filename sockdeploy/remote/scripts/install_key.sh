#!/bin/sh
# Append the public key line read from stdin to ~/.ssh/authorized_keys unless it is there; print "added" or "present".
# Like ssh-copy-id: ~/.ssh is created 0700 and authorized_keys 0600 (under umask 077) when missing;
# existing ones keep their modes. Keys compare by blob (the second field), so a copy with
# another comment or options counts as present.
set -f
IFS= read -r key || [ -n "$key" ] || { echo "no key on stdin" >&2; exit 1; }
# shellcheck disable=SC2086  # split the line into its fields on purpose (globbing is off)
set -- $key
[ $# -ge 2 ] || { echo "not a public key line" >&2; exit 1; }
cd || exit 1
[ -d .ssh ] || mkdir -m 700 .ssh || exit 1
f=.ssh/authorized_keys
# touch, not ": >": a failed redirection on a special built-in ends sh with status 2 before "exit 1"
[ -e "$f" ] || touch -- "$f" || exit 1
if SD_BLOB="$2" awk '{ for (i = 1; i <= NF; i++) if ($i == ENVIRON["SD_BLOB"]) found = 1 } END { exit !found }' "$f"; then
  echo present
  exit 0
fi
# a last line without its newline would be glued to the new key
if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then printf '\n' >> "$f" || exit 1; fi
printf '%s\n' "$key" >> "$f" || exit 1
echo added
