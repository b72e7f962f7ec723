"""The `textfit` command line."""
