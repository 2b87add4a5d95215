"""Network paths: forwards over SSH, the UDP relay, VPN checks."""
