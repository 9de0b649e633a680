"""Small, reproducible experiments, each runnable from the command line."""
