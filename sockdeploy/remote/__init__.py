"""Hosts that run shell scripts, and the programs sockdeploy runs on them."""
