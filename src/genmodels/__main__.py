from genmodels.cli import main

main()
