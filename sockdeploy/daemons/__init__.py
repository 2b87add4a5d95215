"""Background processes that outlive one command: persistent tunnels and the lab keeper."""
