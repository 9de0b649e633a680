"""The CUDA tests' switch of the synchronisation debug mode, checked without a GPU.

``torch.cuda.set_sync_debug_mode`` is replaced, inside these tests only, by a
stand-in that behaves as torch's does: it sets the mode and then, at its first
call in a process, warns that the feature is a prototype.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.cuda_sync import PROTOTYPE_WARNING, sync_debug_mode


class _FakeDebugMode:
    def __init__(self) -> None:
        self.mode = "default"
        self.warned = False

    def __call__(self, mode: str) -> None:
        self.mode = mode
        if not self.warned:
            self.warned = True
            warnings.warn(f"{PROTOTYPE_WARNING} and does not yet detect ...", UserWarning, 2)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> _FakeDebugMode:
    fake = _FakeDebugMode()
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", fake)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    return fake


def test_the_prototype_warning_neither_fails_nor_leaves_the_mode_on(fake: _FakeDebugMode) -> None:
    with sync_debug_mode("error"):
        assert fake.mode == "error"
    assert fake.warned and fake.mode == "default"


def test_the_mode_is_restored_when_the_block_raises(fake: _FakeDebugMode) -> None:
    with pytest.raises(RuntimeError, match="inside"), sync_debug_mode("warn"):
        assert fake.mode == "warn"
        raise RuntimeError("inside")
    assert fake.mode == "default"


def test_the_plain_call_under_this_suite_fails_and_leaves_the_mode_on(fake: _FakeDebugMode) -> None:
    """What the CUDA tests did before: the first call raised, and the mode stayed on."""
    with pytest.raises(UserWarning, match="prototype"):
        torch.cuda.set_sync_debug_mode("error")
    assert fake.mode == "error"
