from cotmill.cli import main

main()
