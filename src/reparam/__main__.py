"""``python -m reparam`` runs the command line."""

from reparam.cli import run_program

run_program()
