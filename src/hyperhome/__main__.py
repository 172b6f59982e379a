from hyperhome.scenarios.cli import main

main()
