"""The run configuration: its typed schema, loading (defaults < YAML < flags) and the commented template."""
