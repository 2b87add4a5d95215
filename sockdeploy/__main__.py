from sockdeploy.cli.app import main

main()
