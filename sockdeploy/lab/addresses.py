"""The campus lab's fixed addresses, names and devices: one plan shared by every part of the lab."""

from __future__ import annotations

COURSE_PORTS = (30000, 40000)
INTERNET_NET = "10.77.1.0/24"
GATEWAY_IP = "10.77.1.1"
HOME_IP = "10.77.1.2"
CAMPUS_NET = "10.77.2.0/24"
SERVER_IP = "10.77.2.10"
VPN_POOL = "10.77.8.0/24"
SERVER_NAME = "shell.campus.lab"
GATEWAY_NAME = "vpn.campus.lab"
HOME_NAME = "pi.home.lab"
VPN_USER = "labuser"
VPN_DEVICE = "tun0"        # openconnect's device in the home namespace
VPN_SERVER_DEVICE = "vpns"  # ocserv's device prefix in the campus namespace
LINK_DEVICE = "inet0"       # the veth end in each namespace
CAMPUS_DEVICE = "campus0"   # holds the login host's address inside campus
