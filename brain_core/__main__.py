from brain_core.cli import main

main()
