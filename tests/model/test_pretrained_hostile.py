"""A pretrained folder from anywhere: every bad file is refused in one line that names it.

Issue 12 §4: a malformed config.json gave a bare JSONDecodeError, bad ``tied`` metadata a
KeyError, a weights path that is a folder "OSError: No such device"; config.json symlinked to
/dev/zero ate 7 GB, a FIFO named model.safetensors hung the loader; NaN and integer weights loaded
silently. Each case is refused before the model is used, naming the file (and line, tensor).
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from safetensors.torch import save_file

from ernie3_lite.config import ConfigError, Ernie3Config
from ernie3_lite.errors import CheckpointError
from ernie3_lite.files import TEXT_LIMIT, UnsafeFileError
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.pretrained import CONFIG_NAME, WEIGHTS_NAME
from ernie3_lite.tokenization import CharTokenizer


@pytest.fixture
def folder(tmp_path):
    torch.manual_seed(0)
    model = Ernie3Model(Ernie3Config.from_name("test"))
    model.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


@pytest.fixture
def deadline():
    """Fail instead of hanging (a FIFO blocks ``open`` until a writer comes)."""
    def timeout(signum, frame):
        raise TimeoutError("the loader blocked")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def rewrite_weights(folder, change=None, *, metadata=None) -> None:
    model = Ernie3Model.from_pretrained(folder)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if change:
        change(state)
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", **(metadata or {})})


def test_malformed_config_names_the_file_line_and_column(folder):
    (folder / CONFIG_NAME).write_text('{\n  "vocab_size": 100,\n  oops\n}\n')
    with pytest.raises(ConfigError, match=r"config.json:3:3: not valid JSON") as info:
        Ernie3Model.from_pretrained(folder)
    assert "\n" not in str(info.value)


def test_a_config_that_is_not_an_object_is_refused(folder):
    (folder / CONFIG_NAME).write_text("[1, 2]")
    with pytest.raises(ConfigError, match="config.json: expected a JSON object, got list"):
        Ernie3Model.from_pretrained(folder)


@pytest.mark.parametrize("tied, expect", [
    ("not json", "'tied' metadata is not JSON"),
    ('["a"]', "'tied' metadata must be a JSON object of names to names"),
    ('{"lm_head.weight": "no.such.tensor"}',
     "'tied' metadata maps 'lm_head.weight' to 'no.such.tensor'"),
])
def test_bad_tied_metadata_is_a_clear_error(folder, tied, expect):
    rewrite_weights(folder, metadata={"tied": tied})
    with pytest.raises(CheckpointError, match=f"model.safetensors: {expect}"):
        Ernie3Model.from_pretrained(folder)


def test_a_weights_path_that_is_a_folder(folder):
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors: the weights file is a folder"):
        Ernie3Model.from_pretrained(folder)


def test_a_fifo_named_model_safetensors_does_not_hang(folder, deadline):
    (folder / WEIGHTS_NAME).unlink()
    os.mkfifo(folder / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match=r"is a FIFO \(named pipe\), not a regular file"):
        Ernie3Model.from_pretrained(folder)


def test_config_symlinked_to_dev_zero_is_refused_unread(folder, deadline):
    (folder / CONFIG_NAME).unlink()
    (folder / CONFIG_NAME).symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="config.json: is a character device"):
        Ernie3Model.from_pretrained(folder)


def test_vocab_symlinked_to_dev_zero_is_refused_unread(tmp_path, deadline):
    (tmp_path / "vocab.txt").symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="vocab.txt: is a character device"):
        CharTokenizer.from_file(tmp_path / "vocab.txt")


def test_an_oversized_config_is_refused_by_its_size(folder):
    with open(folder / CONFIG_NAME, "r+b") as f:
        f.truncate(TEXT_LIMIT + 1)  # sparse: nothing is written, nothing must be read
    with pytest.raises(UnsafeFileError, match=f"more than the {TEXT_LIMIT} allowed"):
        Ernie3Model.from_pretrained(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(folder, value):
    def poison(state):
        next(iter(state.values())).view(-1)[0] = value

    name = next(iter(Ernie3Model.from_pretrained(folder).state_dict()))
    rewrite_weights(folder, poison)
    with pytest.raises(CheckpointError, match=f"tensor '{name}' holds NaN or infinite values"):
        Ernie3Model.from_pretrained(folder)


def test_integer_weights_are_refused_naming_the_tensor(folder):
    def to_int(state):
        name = next(iter(state))
        state[name] = state[name].to(torch.int32)

    rewrite_weights(folder, to_int)
    with pytest.raises(CheckpointError, match=r"tensor '.*' is torch.int32, the model's is "
                                              "torch.float32"):
        Ernie3Model.from_pretrained(folder)


def test_a_good_folder_still_loads_and_its_json_is_what_was_saved(folder):
    model = Ernie3Model.from_pretrained(folder)
    assert json.loads((folder / CONFIG_NAME).read_text()) == model.config.to_dict()
