"""Every module's docstring examples, run under the name it is installed as (``inferwatch.…``), so an example's
exception names and pickled classes are the ones a user sees."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["inferwatch.streams", "inferwatch.detectors", "inferwatch.alerting"]


def _modules() -> list[str]:
    """``inferwatch`` is a namespace package (no directory of its own in an editable install): walk its parts."""
    names = []
    for package in PACKAGES:
        names += [package, *(info.name for info in pkgutil.walk_packages(importlib.import_module(package).__path__,
                                                                           package + "."))]
    return sorted(names)


MODULES = _modules()


def test_every_package_is_walked():
    assert {"inferwatch.streams.cli", "inferwatch.detectors.engine", "inferwatch.alerting.engine",
            "inferwatch.streams.otlp.convert", "inferwatch.alerting.ui.server"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (output above)"
