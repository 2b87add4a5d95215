"""`python -m sockdeploy`: the same as the `sockdeploy` command."""

from sockdeploy.cli.app import main

main()
