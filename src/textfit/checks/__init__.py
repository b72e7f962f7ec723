"""Pre-flight checks of the labelled tables, run by `textfit check` and before training."""
