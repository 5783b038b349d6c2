"""``GENMODELS_TEST_COMPILE=1 pytest tests/mcmc`` runs these tests with the kernels' hot
paths compiled (``compile="auto"`` compiles), the suite's root conftest runs them eagerly:
the kernels' correctness tests pass in both modes."""

from __future__ import annotations

import os

if os.environ.get("GENMODELS_TEST_COMPILE") == "1":
    os.environ["GENMODELS_COMPILE"] = "1"
