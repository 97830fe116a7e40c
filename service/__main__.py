"""Run the command line: ``python -m focusqc.service``."""

from focusqc.service.cli import main

main()
