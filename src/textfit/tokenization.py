"""Turn examples into a tokenized datasets.Dataset (unpadded: the collator pads each batch)."""

from __future__ import annotations

from typing import Any

from textfit.data import Examples


def tokenize_examples(
    examples: Examples, tokenizer: Any, max_length: int, label_ids: list[int] | None = None
) -> Any:
    """Tokenize texts (and text pairs, as real pairs with token type ids), truncating at max_length.

    Returns:
        A datasets.Dataset with the tokenizer's columns, `length` (tokens, for length grouping) and,
        when label_ids is given, `labels`.
    """
    from datasets import Dataset

    encoded = tokenizer(
        examples.texts,
        examples.text_pairs,
        truncation="longest_first",
        max_length=max_length,
        return_attention_mask=False,  # the collator builds it from the padding
    )
    columns: dict[str, Any] = dict(encoded)
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    if label_ids is not None:
        columns["labels"] = label_ids
    return Dataset.from_dict(columns)


def truncated_share(dataset: Any, max_length: int) -> float:
    """Share of examples that hit max_length (and so were probably truncated)."""
    lengths: list[int] = list(dataset["length"])
    return sum(length >= max_length for length in lengths) / max(len(lengths), 1)
