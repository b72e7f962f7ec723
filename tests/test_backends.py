"""Prediction backends (textfit.inference.backends): each fast path can be turned off and is checked."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import CLASS_WORDS, TINY_ARCHITECTURES, class_rows, tiny_config
from textfit import Classifier, ConfigError, predict_file
from textfit.inference.backends import FAST_PATHS, EagerBackend, PackedCpuBackend, logits_difference

TEXTS = [row["text"] for row in class_rows(CLASS_WORDS, 6, start=40)]
# The fast paths each architecture takes on a CPU.
TAKEN = {
    "bert": ("packed", "prepack"),
    "roberta": ("firsttoken", "prepack"),
    "xlm-roberta": ("firsttoken", "prepack"),
    "electra": ("firsttoken", "prepack"),
}


def _assert_same_predictions(
    fast: Classifier, plain: Classifier, atol: float, pairs: list[str] | None = None
) -> None:
    fast_probabilities = fast.predict_proba(TEXTS, pairs)
    plain_probabilities = plain.predict_proba(TEXTS, pairs)
    np.testing.assert_allclose(fast_probabilities, plain_probabilities, atol=atol)
    ranked = np.sort(plain_probabilities, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > 2 * atol  # rows whose label rounding cannot flip
    assert clear.sum() >= len(TEXTS) // 2
    fast_labels = [p.label for p in fast.predict(TEXTS, pairs)]
    plain_labels = [p.label for p in plain.predict(TEXTS, pairs)]
    assert [a for a, keep in zip(fast_labels, clear, strict=True) if keep] == [
        b for b, keep in zip(plain_labels, clear, strict=True) if keep
    ]


@pytest.fixture(scope="module")
def architecture_dirs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved, freshly initialised classifier of each architecture, with the tiny BERT's tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, model_max_length=60)
    folders = {}
    for architecture in TINY_ARCHITECTURES:
        torch.manual_seed(0)
        config = tiny_config(architecture)
        config.vocab_size, config.pad_token_id = len(tokenizer), tokenizer.pad_token_id
        config.initializer_range = 0.2  # logits apart enough for labels to be compared
        folder = tmp_path_factory.mktemp(architecture)
        AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[architecture] = folder
    return folders


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_every_architecture_predicts_the_same_with_the_fast_paths_off(
    architecture_dirs: dict[str, Path], architecture: str
) -> None:
    folder = architecture_dirs[architecture]
    fast = Classifier.load(folder, device="cpu", precision="fp32")
    plain = Classifier.load(folder, device="cpu", precision="fp32", fast_paths=())

    assert fast.fast_paths == TAKEN.get(architecture, ("prepack",))
    assert (type(plain.backend), plain.fast_paths) == (EagerBackend, ())
    _assert_same_predictions(fast, plain, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_trained_run_predicts_the_same_with_the_fast_paths_off(
    tiny_run_dir: Path, precision: str
) -> None:
    fast = Classifier.load(tiny_run_dir, device="cpu", precision=precision)
    plain = Classifier.load(tiny_run_dir, device="cpu", precision=precision, fast_paths=[])

    assert isinstance(fast.backend, PackedCpuBackend)
    _assert_same_predictions(fast, plain, atol=1e-5 if precision == "fp32" else 0.02)


def test_the_pair_run_predicts_the_same_with_the_fast_paths_off(tiny_pair_run_dir: Path) -> None:
    fast = Classifier.load(tiny_pair_run_dir, device="cpu", precision="fp32")
    plain = Classifier.load(tiny_pair_run_dir, device="cpu", precision="fp32", fast_paths=())

    assert fast.fast_paths == ("packed", "prepack")
    _assert_same_predictions(fast, plain, atol=1e-5, pairs=TEXTS[::-1])


@pytest.mark.parametrize("path", FAST_PATHS)
def test_each_fast_path_can_be_turned_off_alone(tiny_run_dir: Path, path: str) -> None:
    others = [other for other in FAST_PATHS if other != path]
    classifier = Classifier.load(tiny_run_dir, device="cpu", precision="fp32", fast_paths=others)
    # Without packing, BERT's last layer runs at [CLS] alone instead.
    assert (
        classifier.fast_paths
        == {
            "packed": ("firsttoken", "prepack"),
            "firsttoken": ("packed", "prepack"),
            "prepack": ("packed",),
        }[path]
    )


def test_an_unknown_fast_path_is_refused(tiny_run_dir: Path) -> None:
    with pytest.raises(
        ConfigError, match=re.escape("unknown fast path 'pakced'; the fast paths are packed, ")
    ):
        Classifier.load(tiny_run_dir, fast_paths=["pakced", "prepack"])


def test_a_packed_backend_that_disagrees_falls_back_to_the_model_with_a_warning(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plain = Classifier.load(tiny_run_dir, device="cpu", precision="fp32", fast_paths=())
    right = PackedCpuBackend.logits
    monkeypatch.setattr(PackedCpuBackend, "logits", lambda self, batch: right(self, batch) + 0.5)

    with caplog.at_level(logging.WARNING, logger="textfit.inference.classifier"):
        classifier = Classifier.load(tiny_run_dir, device="cpu", precision="fp32")

    assert (type(classifier.backend), classifier.fast_paths) == (EagerBackend, ())
    assert "the fast prediction paths (packed, prepack) give logits" in caplog.text
    assert "predicting with the model's own forward pass" in caplog.text
    np.testing.assert_array_equal(classifier.predict_proba(TEXTS), plain.predict_proba(TEXTS))


def test_a_fast_path_that_changed_the_model_wrongly_is_undone_by_loading_it_again(
    tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from textfit.accel import prepack

    def broken(model: Any) -> int:
        with torch.no_grad():
            model.classifier.weight.mul_(-1.0)  # a wrong product, in place
        return 1

    plain = Classifier.load(tiny_run_dir, device="cpu", precision="fp32", fast_paths=())
    monkeypatch.setattr(prepack, "prepack_linears", broken)
    with caplog.at_level(logging.WARNING, logger="textfit.inference.classifier"):
        classifier = Classifier.load(tiny_run_dir, device="cpu", precision="fp32", fast_paths=["prepack"])

    assert classifier.fast_paths == ()
    assert "the fast prediction paths (prepack) give logits" in caplog.text
    np.testing.assert_array_equal(classifier.predict_proba(TEXTS), plain.predict_proba(TEXTS))


def test_logits_difference_is_relative_and_infinite_for_garbage() -> None:
    want = np.array([[4.0, -2.0]], dtype=np.float32)
    assert logits_difference(want + 0.04, want) == pytest.approx(0.01)
    assert logits_difference(np.full_like(want, np.nan), want) == float("inf")
    assert logits_difference(want[:, :1], want) == float("inf")


def test_predict_file_with_the_fast_paths_off_writes_the_same_labels(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    from conftest import read_csv

    predict_file(tiny_run_dir, str(binary_test_csv), str(tmp_path / "fast.csv"))
    predict_file(tiny_run_dir, str(binary_test_csv), str(tmp_path / "plain.csv"), fast_paths=())

    fast, plain = read_csv(tmp_path / "fast.csv"), read_csv(tmp_path / "plain.csv")
    assert [row["predicted_label"] for row in fast] == [row["predicted_label"] for row in plain]
    np.testing.assert_allclose(
        [float(row["predicted_probability"]) for row in fast],
        [float(row["predicted_probability"]) for row in plain],
        atol=0.02,
    )
