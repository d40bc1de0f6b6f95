"""Keep Lightning's start-up banners and known-harmless warnings out of logs and notebooks.

Lightning prints banners to stderr at INFO (GPU available, seed set, ...) and some library
versions warn about their own internals; on stderr both break nbval comparisons and bury what a
user should see. Each silenced warning below says why it is harmless here.
"""

from __future__ import annotations

import logging
import warnings

QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric")
#: warnings that say nothing to a user of this package (each line says why)
QUIET_WARNINGS = (
    ".*LeafSpec.*",  # torch 2.13 + lightning 2.6: an internal deprecation inside Lightning
    # resuming mid-"epoch" is exact here: the data module restarts its stream at global_step
    ".*resuming from a checkpoint that ended before the epoch ended.*",
    "LightningCLI's args parameter is intended.*",  # cli_main(args) is how notebooks call us
    ".*does not have many workers.*",  # num_workers=0 is the right choice on 2 CPU cores
    ".*`tensorboardX` has been removed as a dependency.*",  # CSV logs are what we want
    # save_last rewrites last.ckpt; a sharded (folder) checkpoint warns each time
    "Detected an existing checkpoint in .*overwriting since self.overwrite=True.*",
    # jsonargparse 4.49+ deprecations of what Lightning 2.6's LightningCLI calls
    "(?s).*(will be removed in v5\\.0\\.0|JSONARGPARSE_DEPRECATION_WARNINGS).*",
    # Lightning's all_gather (the module gathers every rank's DLM memory into a checkpoint)
    ".*torch.distributed.nn.functional.all_gather is deprecated.*",
    # the module reads DLM's `reset` flag on the host there, on purpose (see module.py)
    "You have overridden `on_before_batch_transfer` in `LightningModule`.*",
)


def quiet_lightning(level: str = "ERROR", *, filter_warnings: bool = False) -> None:
    """Lightning's loggers to `level`; with `filter_warnings`, also ignore `QUIET_WARNINGS`
    process-wide (scripts and notebooks; the CLI filters them only while it runs).

    Must run after `import lightning`, which sets its own log level on import.
    """
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if filter_warnings:
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
