"""sockdeploy: run a client/server socket exercise across two hosts with one command."""

__version__ = "0.1.0"
