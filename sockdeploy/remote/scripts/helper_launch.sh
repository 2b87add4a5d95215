#!/bin/sh
# Start the sockdeploy remote helper: $1 is its Python program (helper.py), $2 the greeting nonce.
# Exits 97 when the host has no python3.
# The system's own python3 first: version-manager shims (pyenv) take longer to start.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 2>/dev/null) || exit 97
exec "$py" -S -c "$1" "$2"
