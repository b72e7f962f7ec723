"""RunConfig: defaults < YAML < overrides, every problem at once, the round trip through YAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textfit.config.loading import keyword_overrides, load_config, save_config, with_settings
from textfit.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig
from textfit.errors import ConfigError

SETTINGS_HINT = (
    "`textfit init-config` lists every setting with its default; run_config.yaml of a run shows them all"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    cfg = load_config()
    assert cfg == RunConfig()
    assert cfg.model.name == "minilm"
    assert cfg.model.max_length == 256
    assert cfg.model.trust_remote_code is False
    assert cfg.train.epochs == 3.0
    assert cfg.train.learning_rate == 1e-4
    assert cfg.train.seed == 42
    assert cfg.train.report_to == ["none"]
    assert cfg.train.eval_strategy == cfg.train.save_strategy == "epoch"
    assert cfg.data.format == "auto"
    assert cfg.data.validation_split == 0.1
    assert cfg.data.drop_invalid is False
    assert cfg.data.train_file is None


def test_resolved_output_dir() -> None:
    assert RunConfig().resolved_output_dir() == Path("runs/run")
    cfg = load_config(None, {"data.train_file": "data/reviews.csv"})
    assert cfg.resolved_output_dir() == Path("runs/reviews")
    cfg = load_config(None, {"data.train_file": "data/reviews.csv", "output_dir": "out/x"})
    assert cfg.resolved_output_dir() == Path("out/x")


def test_config_is_frozen() -> None:
    cfg = RunConfig()
    with pytest.raises(ValueError, match="frozen"):
        cfg.train.epochs = 5  # type: ignore[misc]


def test_yaml_over_defaults_and_overrides_over_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path / "run.yaml",
        "model:\n  name: mpnet\ntrain:\n  epochs: 5\n  batch_size: 8\n  learning_rate: 2.0e-5\n",
    )
    cfg = load_config(path, {"train.epochs": 2, "train.batch_size": None})
    assert cfg.train.epochs == 2  # override beats YAML
    assert cfg.train.batch_size == 8  # None means "flag not given": YAML stays
    assert cfg.train.learning_rate == 2e-5  # YAML beats default
    assert cfg.model.name == "mpnet"
    assert cfg.train.seed == 42  # default where neither says
    assert cfg.model.max_length == 256  # a section given in part keeps its other defaults


def test_empty_yaml_is_all_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path / "empty.yaml", "")) == RunConfig()


def test_every_problem_reported_at_once_with_dotted_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        "train:\n  epcohs: 5\n  batch_size: 0\ndata:\n  validation_split: 1.5\nmodle: {}\n",
    )
    with pytest.raises(ConfigError, match=re.escape(f"invalid config {path}:\n  ")) as caught:
        load_config(path)
    message = caught.value.message
    assert "data.validation_split: Input should be less than 1" in message
    assert "train.batch_size: Input should be greater than or equal to 1" in message
    assert "train.epcohs: unknown setting (did you mean 'train.epochs'?)" in message
    assert "modle: unknown setting (did you mean 'model'?)" in message
    assert len(message.splitlines()) == 5  # the header line and one line per problem
    assert caught.value.hint == SETTINGS_HINT


def test_unknown_override_gets_did_you_mean() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape("train.learning_rte: unknown setting (did you mean 'train.learning_rate'?)"),
    ) as caught:
        load_config(None, {"train.learning_rte": 1e-5})
    assert caught.value.message.startswith("invalid settings:\n")
    assert caught.value.hint == SETTINGS_HINT


def test_unknown_setting_without_a_close_match() -> None:
    with pytest.raises(ConfigError, match=re.escape("train.zzzz: unknown setting\n")):
        load_config(None, {"train.zzzz": 1, "train.epochs": 0})


def test_setting_in_the_wrong_section_gets_did_you_mean() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("data.epochs: unknown setting (did you mean 'train.epochs'?)")
    ):
        load_config(None, {"data.epochs": 2})


def test_wrong_type_and_wrong_choice() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"train.precision": "fp8", "train.epochs": "many"})
    assert "train.precision: Input should be 'auto', 'fp32', 'bf16' or 'fp16'" in caught.value.message
    assert "train.epochs: Input should be a valid number" in caught.value.message


def test_report_to_accepts_a_comma_separated_string() -> None:
    cfg = load_config(None, {"train.report_to": "tensorboard, mlflow"})
    assert cfg.train.report_to == ["tensorboard", "mlflow"]


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "train: [unclosed\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path} is not valid YAML: ")) as caught:
        load_config(path)
    assert "line 1" in caught.value.message
    assert caught.value.hint == "fix the YAML at the line named above"


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", "- epochs\n- 3\n")
    with pytest.raises(
        ConfigError, match=re.escape(f"{path} must hold a mapping with sections data, model, train")
    ) as caught:
        load_config(path)
    assert caught.value.hint == "write it like a run's run_config.yaml: `train:`, then `  epochs: 2` below it"


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=re.escape(f"config file {path} does not exist")) as caught:
        load_config(path)
    assert caught.value.hint == "check the path (relative paths start from the current folder)"


def test_save_then_load_is_equal(tmp_path: Path) -> None:
    cfg = RunConfig(
        output_dir=Path("runs/a"),
        data=DataConfig(
            train_file=Path("data/train.csv"),
            test_file=Path("data/test.csv"),
            format="csv",
            delimiter=";",
            text_column="review",
            label_column="sentiment",
            validation_split=0.2,
            drop_invalid=True,
        ),
        model=ModelConfig(name="mpnet", max_length=128),
        train=TrainConfig(
            epochs=1.5,
            learning_rate=3e-5,
            report_to=["tensorboard"],
            eval_strategy="steps",
            save_strategy="steps",
            eval_steps=10,
            early_stopping_patience=2,
        ),
    )
    path = tmp_path / "run" / "run_config.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert "learning_rate: 3.0e-05" in path.read_text(encoding="utf-8")
    assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it


def test_save_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "run_config.yaml"
    save_config(load_config(None, {"train.epochs": 9}), path)
    save_config(RunConfig(), path)
    assert load_config(path) == RunConfig()


def test_load_best_needs_matching_strategies() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "train: load_best_model_at_end needs eval_strategy and save_strategy to match "
            "(got 'epoch' and 'steps'); set them to the same value, or set "
            "load_best_model_at_end to false"
        ),
    ) as caught:
        load_config(None, {"train.save_strategy": "steps"})
    assert "Value error" not in caught.value.message
    assert caught.value.hint == SETTINGS_HINT


def test_mismatched_strategies_are_fine_without_load_best() -> None:
    cfg = load_config(None, {"train.save_strategy": "no", "train.load_best_model_at_end": False})
    assert (cfg.train.eval_strategy, cfg.train.save_strategy) == ("epoch", "no")


def test_setting_names_are_unique_across_sections() -> None:
    names = [name for section in (DataConfig, ModelConfig, TrainConfig) for name in section.model_fields]
    assert len(names) == len(set(names))


def test_keyword_overrides_map_flat_names_to_sections() -> None:
    dotted = keyword_overrides(
        {
            "epochs": 2,
            "model": "mpnet",
            "max_length": 64,
            "text_column": "review",
            "train.seed": 3,
            "output_dir": "out",
        }
    )
    assert dotted == {
        "train.epochs": 2,
        "model.name": "mpnet",
        "model.max_length": 64,
        "data.text_column": "review",
        "train.seed": 3,
        "output_dir": "out",
    }


def test_keyword_overrides_unknown_names_all_reported() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("unknown settings: epoch (did you mean 'epochs'?), zzzz")
    ) as caught:
        keyword_overrides({"epoch": 2, "batch_size": 4, "zzzz": 1})
    assert caught.value.hint == "see textfit.RunConfig"


def test_with_settings_from_defaults() -> None:
    cfg = with_settings(None, {"epochs": 2, "model": "mpnet"})
    assert cfg.train.epochs == 2
    assert cfg.model.name == "mpnet"
    assert cfg.train.batch_size == 32


def test_with_settings_keeps_the_rest_of_cfg() -> None:
    base = load_config(None, {"train.epochs": 7, "data.train_file": "a.csv", "model.name": "x"})
    cfg = with_settings(base, {"learning_rate": 3e-5, "max_length": 64})
    assert cfg.train.learning_rate == 3e-5
    assert cfg.model.max_length == 64
    assert (cfg.train.epochs, cfg.data.train_file, cfg.model.name) == (7, Path("a.csv"), "x")
    assert base.train.learning_rate == 1e-4  # the original is untouched


def test_with_settings_validates() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape("invalid settings:\n  train.batch_size: Input should be greater than or equal to 1"),
    ) as caught:
        with_settings(None, {"batch_size": 0})
    assert caught.value.hint == SETTINGS_HINT


def test_with_settings_unknown_name() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape("unknown settings: lerning_rate (did you mean 'learning_rate'?)"),
    ):
        with_settings(RunConfig(), {"lerning_rate": 1e-3})


def test_metric_for_best_model_must_be_a_reported_metric() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"train.metric_for_best_model": "f1_marco"})
    assert (
        "train.metric_for_best_model: unknown metric 'f1_marco' (did you mean 'f1_macro'?); choose one of "
        "accuracy, f1_macro" in caught.value.message
    )
    assert load_config(
        None, {"train.metric_for_best_model": "eval_accuracy"}
    ).train.metric_for_best_model == ("accuracy")


def test_a_bare_yaml_no_is_the_strategy_no(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "train:\n  eval_strategy: no\n  save_strategy: no\n")
    cfg = load_config(path, {"train.load_best_model_at_end": False})
    assert (cfg.train.eval_strategy, cfg.train.save_strategy) == ("no", "no")
