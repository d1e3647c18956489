"""Toy language models written as tables, for lessons, exercises and tests.

A toy language model is a function ``lm(context) -> dict[str, float]`` from a tuple of tokens to
the distribution of the next token (see :mod:`lmsample.decoding`). :class:`TableLM` is one that
looks the context up in a table, so it is also plain data: the grader can send it into the
sandbox where a student's search runs (``autograder/lmgrade/wire.py``).

>>> lm = TableLM({(): {"a": 0.6, "<eos>": 0.4}}, default={"<eos>": 1.0})
>>> lm(())
{'a': 0.6, '<eos>': 0.4}
>>> lm(("a",))
{'<eos>': 1.0}
"""
from __future__ import annotations

__all__ = ["TableLM"]


def _distribution(dist, what: str) -> dict:
    if type(dist) is not dict or not all(type(t) is str for t in dist):
        raise ValueError(f"{what} must be a dict of token (str) -> probability, got {dist!r}")
    return {t: float(p) for t, p in dist.items()}


class TableLM:
    """``lm(context)``: ``table[context]`` when the context is in the table, else ``default``
    (a ``KeyError`` when there is no default). Every call returns a new dict."""

    def __init__(self, table: dict, default: dict | None = None):
        if type(table) is not dict:
            raise ValueError(f"table must be a dict of context tuple -> distribution, got {type(table).__name__}")
        self.table = {}
        for context, dist in table.items():
            if type(context) is not tuple or not all(type(t) is str for t in context):
                raise ValueError(f"a context must be a tuple of tokens (str), got {context!r}")
            self.table[context] = _distribution(dist, f"table[{context!r}]")
        self.default = None if default is None else _distribution(default, "default")

    def __call__(self, context):
        if type(context) is not tuple:
            raise TypeError(f"lm(context): the context must be a tuple, got {context!r}")
        if context in self.table:
            return dict(self.table[context])
        if self.default is None:
            raise KeyError(context)
        return dict(self.default)

    def __repr__(self) -> str:
        return f"TableLM({len(self.table)} contexts, default={self.default!r})"

    def to_data(self) -> dict:
        return {"table": [[list(c), d] for c, d in self.table.items()], "default": self.default}

    @classmethod
    def from_data(cls, data: dict) -> "TableLM":
        return cls({tuple(c): d for c, d in data["table"]}, data["default"])
