"""The built-in labs: a loopback sshd, and the campus in network namespaces."""
