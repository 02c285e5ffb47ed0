"""A TrialModule whose module takes ``$TS_SLOW_IMPORT`` seconds to import in a worker process
(as a heavy import does on a loaded machine): a trial of it has not begun for that long."""

from __future__ import annotations

import multiprocessing
import os
import time

from tests.models import TinyRegression

if multiprocessing.parent_process() is not None:
    time.sleep(float(os.environ.get("TS_SLOW_IMPORT", "0")))


class SlowToImport(TinyRegression):
    pass
