"""The run folder: its marker, what textfit may replace, the .partial folder of a run and resuming it."""
