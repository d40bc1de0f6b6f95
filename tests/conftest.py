"""Test-session defaults.

One intra-op thread: the tests run many tiny tensor ops, and on a 2-core machine that is busy
(another test process, a notebook kernel) two OpenMP threads make them up to 100x slower.

``precision="auto"`` resolves to float32 in the tests unless ERNIE3_PRECISION says otherwise
(`make test` sets 32-true too), so the suite checks the path a CPU without bf16 takes and its
numbers do not depend on the CPU it runs on; tests of the decision itself unset the variable.
"""

import os

import torch

os.environ.setdefault("ERNIE3_PRECISION", "32-true")
torch.set_num_threads(1)
