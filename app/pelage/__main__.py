from pelage.cli.main import main

main()
