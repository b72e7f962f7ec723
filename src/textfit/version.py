"""The version of textfit: in runs' markers, commit messages and `textfit --version`."""

__version__ = "0.1.0"
