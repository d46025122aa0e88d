from stripe2sf.cli import main

main()
