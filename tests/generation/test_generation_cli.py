"""`python -m ernie3_lite.generation` on the shipped pre-trained model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.generation import GenerationConfig, generate
from ernie3_lite.generation.cli import load_model, main

PROMPT = "本报北京"  # the People's Daily dateline of data_samples/news


def test_prints_the_prompt_and_the_continuation(capsys):
    main(["--prompt", PROMPT, "--strategy", "sample", "--top-p", "0.9", "--seed", "1",
          "--max-new-tokens", "8"])
    out, err = capsys.readouterr()
    model, tokenizer = load_model(PRETRAINED_NANO)
    expected = generate(model, tokenizer, PROMPT, GenerationConfig(
        strategy="sample", top_p=0.9, seed=1, max_new_tokens=8))
    assert out == expected.full_text + "\n"
    assert f"[{len(expected.token_ids)} tokens, stop: {expected.stop_reason}]" in err


def test_stream_prints_the_same_text(capsys):
    args = ["--prompt", PROMPT, "--max-new-tokens", "6", "--strategy", "beam", "--num-beams", "2"]
    main(args)
    plain = capsys.readouterr().out
    main([*args, "--stream"])
    assert capsys.readouterr().out == plain


@pytest.mark.parametrize(("args", "message"), [
    (["--top-p", "1.5"], "GenerationConfig.top_p=1.5"),
    (["--stop-token", "zzzz"], "stop_tokens: 'zzzz' is not in the vocabulary"),
    (["--model", "no/such/folder"], "has no vocab.txt"),
])
def test_bad_options_exit_with_a_message(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ernie3_lite.generation", "--prompt", PROMPT,
                           "--max-new-tokens", "3"], capture_output=True, text=True, env=env,
                          check=True, timeout=120)
    assert done.stdout.startswith(PROMPT) and "tokens, stop:" in done.stderr
