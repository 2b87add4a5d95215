#!/bin/sh
# ocserv's connect-script in the campus lab: ocserv sets REASON, IP_REMOTE and DEVICE for each event.
#
# The login host shares the gateway's namespace, so a server bound to any address would answer a
# VPN client from the gateway's tunnel address; a separate login host answers from its own, which
# connected UDP clients insist on. A route with the login host as preferred source restores that.
#
# The lab passes its settings in the environment ocserv inherits:
#   SOCKDEPLOY_LAB_IP      the ip(8) program (sudo's PATH may lack /sbin)
#   SOCKDEPLOY_LAB_SOURCE  the login host's address
[ "$REASON" = connect ] || exit 0
: "${IP_REMOTE:?ocserv did not set IP_REMOTE}"
: "${DEVICE:?ocserv did not set DEVICE}"
: "${SOCKDEPLOY_LAB_SOURCE:?the lab did not set SOCKDEPLOY_LAB_SOURCE}"
exec "${SOCKDEPLOY_LAB_IP:-ip}" route replace "$IP_REMOTE" dev "$DEVICE" src "$SOCKDEPLOY_LAB_SOURCE"
