from bankctl.cli import main

main()
