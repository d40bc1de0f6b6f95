"""Test-session defaults.

One intra-op thread: the tests run many tiny tensor ops, and on a 2-core machine that is busy
(another test process, a notebook kernel) two OpenMP threads make them up to 100x slower.
"""

import torch

torch.set_num_threads(1)
