"""Checkpoints: a checksum catches damage; every unreadable file gets a reason."""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from reparam.training import CheckpointError, TrainConfig, load_checkpoint, save_checkpoint
from tests.training.folders import trainer_folder
from tests.training.test_trainer import TEST, TRAIN, tiny_model
from tests.training.trainers import run_trainer

CONFIG = TrainConfig(epochs=1, batch_size=20, lr=1e-2, seed=5, target="binary")


def trained_run(folder: Path) -> Path:
    """A run folder after one epoch of a tiny VAE; returns its checkpoint."""
    run = trainer_folder(folder)
    run_trainer(run, tiny_model(), CONFIG, TRAIN, TEST).fit()
    return run.checkpoint


def flip_bytes(path: Path, count: int, seed: int) -> None:
    """Change ``count`` distinct bytes of ``path`` (each to a different value)."""
    content = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for index in rng.sample(range(len(content)), count):
        content[index] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(content))


def refusal(path: Path) -> str:
    """The message of the :class:`CheckpointError` that loading ``path`` raises."""
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert str(path) in message
    assert "weights_only" not in message
    return message


def test_a_round_trip_returns_the_state_and_the_file_loads_with_weights_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "checkpoint.pt"
    w = torch.arange(6.0).reshape(2, 3)
    state: dict[str, Any] = {"w": w, "step": 3, "history": [{"loss": 1.5}]}
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert loaded.keys() == state.keys() and torch.equal(loaded["w"], state["w"])
    assert (loaded["step"], loaded["history"]) == (3, [{"loss": 1.5}])
    record = torch.load(path, weights_only=True)  # the documented layout, no pickled code
    assert record["format"] == 2
    payload = record["payload"].numpy().tobytes()
    assert record["sha256"] == hashlib.sha256(payload).hexdigest()
    assert torch.equal(torch.load(io.BytesIO(payload), weights_only=True)["w"], state["w"])


@pytest.mark.parametrize("seed", range(8))
def test_200_flipped_bytes_in_a_real_checkpoint_are_reported_as_damage(
    tmp_path: Path, seed: int
) -> None:
    path = trained_run(tmp_path / "run")
    flip_bytes(path, 200, seed)
    assert "damaged" in refusal(path)


def test_resume_from_a_damaged_checkpoint_says_so_instead_of_diverging(tmp_path: Path) -> None:
    path = trained_run(tmp_path / "run")
    flip_bytes(path, 200, seed=0)
    run = trainer_folder(tmp_path / "run", new=False)
    resumed = run_trainer(run, tiny_model(), CONFIG, TRAIN, TEST)
    with pytest.raises(CheckpointError, match="is damaged"):
        resumed.resume()


def test_one_changed_weight_fails_the_checksum(tmp_path: Path) -> None:
    # Without the checksum, this file loads and gives a wrong weight silently.
    path = tmp_path / "checkpoint.pt"
    weights = torch.arange(256.0)
    save_checkpoint({"weights": weights}, path)
    content = bytearray(path.read_bytes())
    where = bytes(content).index(weights.numpy().tobytes()) + 100
    content[where] ^= 0x01
    path.write_bytes(bytes(content))
    message = refusal(path)
    assert "is damaged: the SHA-256 of its saved state" in message
    content[where] ^= 0x01  # the same file undamaged loads: the check is not always failing
    path.write_bytes(bytes(content))
    assert torch.equal(load_checkpoint(path)["weights"], weights)


def _torch_save(content: Any) -> Callable[[Path], None]:
    return lambda path: torch.save(content, path)


def _pickle_with_code(path: Path) -> None:
    torch.save({"format": 2, "hook": print}, path)


def _truncated(path: Path) -> None:
    save_checkpoint({"weights": torch.arange(1000.0)}, path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda path: path.write_bytes(b""), r"the file is empty \(0 bytes\)"),
        (
            lambda path: path.write_bytes(random.Random(0).randbytes(5000)),
            r"not a PyTorch file \(it starts with 0x[0-9a-f]{8}, a checkpoint with 0x504b0304\)",
        ),
        (lambda path: path.write_bytes(pickle.dumps({"weights": [1.0]})), "not a PyTorch file"),
        (_truncated, r"is truncated or damaged: its \d+ bytes lack the zip directory"),
        (_pickle_with_code, "objects other than tensors, numbers, strings, lists and dicts"),
        (_torch_save([1, 2]), "holds a list, not the dict of a checkpoint"),
        (_torch_save({"weights": torch.zeros(2)}), "format number is None"),
        (_torch_save({"format": 3}), "unknown format 3 .*written by a newer reparam"),
        (_torch_save({"format": 2, "sha256": "0" * 64}), "lacks the uint8 payload"),
    ],
    ids=["empty", "random", "pickle", "truncated", "code", "list", "no-format", "newer", "no-data"],
)
def test_unreadable_files_get_a_reason_and_never_the_weights_only_advice(
    tmp_path: Path, write: Callable[[Path], None], reason: str
) -> None:
    path = tmp_path / "checkpoint.pt"
    write(path)
    message = refusal(path)
    assert message.startswith(f"cannot read checkpoint {path}: ") or "is damaged" in message
    assert any(fix in message for fix in ("restore it from a copy", "newer reparam")), message
    assert re.search(reason, message), message


def test_a_missing_checkpoint_and_a_folder_in_its_place(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    (tmp_path / "checkpoint.pt").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_format_1_checkpoints_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "weights": torch.arange(3.0), "progress": {"epoch": 2}}, path)
    state = load_checkpoint(path)
    assert state.keys() == {"weights", "progress"} and state["progress"] == {"epoch": 2}
