"""The SSH connection and everything carried over it."""
