"""alerting consumes the anomaly record, never the code that produces it: its commands load no detector."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: the only modules of ``detectors`` alerting may import: leaf modules that import nothing of ours
LEAF_MODULES = {"inferwatch.detectors", "inferwatch.detectors.contract", "inferwatch.detectors.durations"}


@pytest.mark.parametrize("module", ["inferwatch.alerting.cli", "inferwatch.alerting.service", "inferwatch.alerting.runbook_lint",
                                    "inferwatch.alerting.ui.cli"])
def test_importing_alerting_loads_no_detector_nor_numeric_library(module: str) -> None:
    probe = (f"import json, sys; import {module}; "
             "print(json.dumps(sorted(m for m in sys.modules if m.removeprefix('inferwatch.').split('.')[0] in "
             "('detectors', 'streams', 'river', 'numpy', 'scipy'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                       text=True).stdout)
    assert set(loaded) <= LEAF_MODULES, loaded
