from hyperhome.cli import main

main()
