"""ernie3_lite.notebook: the set-up cell every course notebook shares."""

from __future__ import annotations

import random

import torch

from ernie3_lite import PACKAGE_ROOT
from ernie3_lite.notebook import fast_mode, setup, show_source


def test_setup_seeds_threads_and_fast_mode(monkeypatch):
    threads = torch.get_num_threads()
    try:
        monkeypatch.setenv("ERNIE3_FAST", "0")
        course = setup(seed=3, cjk_font=False)
        first = (torch.rand(2), random.random())
        setup(seed=3, cjk_font=False)
        assert torch.equal(first[0], torch.rand(2)) and first[1] == random.random()
        assert torch.get_num_threads() == 1
        assert course.fast is False and course.root == PACKAGE_ROOT.parent and course.font is None
        monkeypatch.delenv("ERNIE3_FAST")
        assert fast_mode() is True  # the default: nbval runs the fast course
    finally:
        torch.set_num_threads(threads)


def test_work_dirs_are_fresh_and_cleaned_up():
    course = setup(cjk_font=False)
    one, two = course.work_dir("nb99"), course.work_dir("nb99")
    assert one != two and one.is_dir() and one.name.startswith("ernie3_nb99_")
    course.cleanup()
    assert not one.exists() and not two.exists()


def test_show_source_prints_the_code_that_runs(capsys):
    show_source(fast_mode)
    assert capsys.readouterr().out.startswith("def fast_mode() -> bool:")
