"""Rows whose given label is probably wrong: out-of-fold probabilities, then cleanlab's confident learning.

`find.py` (`find_label_errors`: the rows checked, the folds, the ranking), `embeddings.py` (the cheap
default: a logistic regression on the frozen encoder's embeddings), `finetune.py` (a textfit run per
fold), `saving.py` (label_errors.csv, beside a run or where the user asks).
"""

from __future__ import annotations

from textfit.label_errors.find import LabelError, LabelErrors, Method, find_label_errors
from textfit.label_errors.saving import check_label_errors_file, save_run_label_errors, write_label_errors

__all__ = [
    "LabelError",
    "LabelErrors",
    "Method",
    "check_label_errors_file",
    "find_label_errors",
    "save_run_label_errors",
    "write_label_errors",
]
