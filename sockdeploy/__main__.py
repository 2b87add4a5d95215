from sockdeploy.cli import main

main()
