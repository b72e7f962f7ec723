"""Every YAML config in the repository loads with load_config: a renamed setting breaks this test."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from textfit.config import RunConfig, load_config
from textfit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_FOLDERS = {"runs", "build", "dist", "node_modules", "site-packages"}  # and hidden ones (.venv, .git)


def repository_yaml_files() -> list[Path]:
    """The *.yaml and *.yml files of the repository, outside hidden, build and run folders."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and name not in SKIPPED_FOLDERS and not name.endswith(".egg-info")
        ]
        found += [Path(folder) / name for name in files if name.endswith((".yaml", ".yml"))]
    return sorted(found)


CONFIGS = repository_yaml_files()


def test_the_examples_are_found() -> None:
    names = {path.name for path in CONFIGS if path.parent == ROOT / "examples" / "configs"}

    assert {"sms_spam.yaml", "multilingual.yaml", "long_run.yaml", "sentence_pair.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_config_file_is_valid(path: Path) -> None:
    cfg = load_config(path)

    assert cfg != RunConfig(), "an example that sets nothing shows nothing"
    assert cfg.data.train_file is not None, "an example names its training file"


def test_the_sms_spam_example_names_the_packaged_sample() -> None:
    cfg = load_config(ROOT / "examples" / "configs" / "sms_spam.yaml")

    assert cfg.data.train_file is not None
    assert cfg.data.test_file is not None
    assert (ROOT / cfg.data.train_file).is_file()
    assert (ROOT / cfg.data.test_file).is_file()


def test_a_renamed_setting_in_an_example_fails(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "configs" / "long_run.yaml").read_text(encoding="utf-8")
    renamed = tmp_path / "long_run.yaml"
    renamed.write_text(text.replace("early_stopping_patience:", "patience:"), encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape("train.patience: unknown setting")):
        load_config(renamed)
