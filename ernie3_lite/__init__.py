"""ernie3_lite: ERNIE 3.0 (Sun et al., 2021, arXiv 2107.02137), small enough to read and train.

The package is layered (see README): `config` and `tokenization` at the bottom, `data/` and
`model/` above them (plain Python and PyTorch, no Lightning), then training, generation and the
notebook widgets. Importing the top-level package is cheap: it pulls in no torch or jieba.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_ROOT = Path(__file__).resolve().parent
#: the small real-data slices shipped with the repository (see data_samples/README.md)
DATA_SAMPLES = PACKAGE_ROOT.parent / "data_samples"
#: the `nano` model pre-trained with this code on the full corpora (see its training.json)
PRETRAINED_NANO = PACKAGE_ROOT / "pretrained" / "nano"
