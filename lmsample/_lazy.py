"""Lazy attributes for a package (PEP 562): heavy submodules are imported on first use."""
from __future__ import annotations

import importlib


def lazy_getattr(package: str, table: dict, namespace: dict):
    """A module ``__getattr__`` that imports ``name`` from submodule ``table[name]`` of ``package``
    on first access and caches it in ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    return __getattr__
