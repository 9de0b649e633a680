"""The model options are generated from the model configs: a field is an option, checked."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from reparam.cli import build_parser
from reparam.cli._config_options import add_config_arguments, config_keys
from reparam.cli._parser import Parser, UsageError
from reparam.cli._training import check_resume_options, in_words
from reparam.cli.dvae import MODEL_KEYS as DVAE_KEYS
from reparam.cli.vae import MODEL_KEYS as VAE_KEYS
from reparam.models import DVAEConfig, VAEConfig
from reparam.models.config import at_least, check_fields, option
from reparam.runs import RunSettings
from reparam.runs.settings import check_kept
from reparam.training._checks import SettingsError


@dataclass(frozen=True)
class WithDropout:
    """A config as a model family would write it, with one field more."""

    latent_dim: int = option(20, "code size (default 20)", at_least(1))
    dropout_every: int = option(3, "drop every N-th unit; with {latent_dim} >= N", at_least(2))
    input_dim: int = option(784, "pixels", at_least(1), command_line=False)

    def __post_init__(self) -> None:
        check_fields(self)


def parser_for(config: type) -> Parser:
    parser = Parser(prog="model")
    add_config_arguments(parser.add_argument_group("model"), config)
    return parser


def test_a_new_field_is_an_option_with_its_help_and_its_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = parser_for(WithDropout)
    assert "drop every N-th unit; with --latent-dim >= N" in parser.format_help()
    assert "--input-dim" not in parser.format_help()  # not a command-line field
    assert parser.parse_args(["--dropout-every", "4"]).dropout_every == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--dropout-every", "1"])
    err = capsys.readouterr().err
    assert "argument --dropout-every: must be an integer >= 2, got 1" in err, err


def test_the_commands_options_are_the_configs_fields() -> None:
    assert config_keys(VAEConfig) == VAE_KEYS and "input_dim" not in VAE_KEYS
    assert set(VAE_KEYS) == {
        "posterior", "latent_dim", "hidden", "estimator", "num_samples", "objective", "iw_k",
        "iw_gradient",
    }  # fmt: skip
    assert set(DVAE_KEYS) == {
        "latent", "estimator", "hidden", "num_samples", "temperature", "anneal_rate",
        "min_temperature",
    }  # fmt: skip
    assert DVAEConfig().samples_per_example == 1
    assert VAEConfig(objective="iwae", iw_k=7).samples_per_example == 7


def test_a_resume_may_change_epochs_lr_and_batch_size_only() -> None:
    saved = RunSettings(model="vae", options={"latent_dim": 3})
    given = ["vae", "--resume", "runs/x", "--epochs", "20", "--lr", "0.5", "--batch-size", "64"]
    check_resume_options(build_parser().parse_args(given), saved, VAE_KEYS)
    seed = build_parser().parse_args(["vae", "--resume", "runs/x", "--seed", "5"])
    with pytest.raises(UsageError, match=r"\(only --epochs, --lr, --batch-size may change\)"):
        check_resume_options(seed, saved, VAE_KEYS)


def test_the_library_says_what_a_resume_keeps_in_python_names() -> None:
    saved = RunSettings(model="vae", options={"num_samples": 3})
    check_kept(saved, {"num_samples": 3, "lr": 0.5, "posterior": "normal"})  # kept, or changeable
    with pytest.raises(SettingsError) as error:
        check_kept(saved, {"num_samples": 4})
    assert str(error.value).startswith("num_samples 4 differs from the run's saved 3")
    assert "(only epochs, lr, batch_size may change)" in str(error.value)
    assert in_words(error.value).startswith("--num-samples 4 differs")
