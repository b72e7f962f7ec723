"""The report of a run: metrics pages, prediction tables and figures."""
