"""From a table to examples: reading files and Hub data sets, columns, labels, task types and splits."""
