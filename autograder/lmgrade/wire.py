"""Plain data across the sandbox wall: the arguments of a call in, the answer out.

The grader calls a student's function by sending its name and arguments to the sandboxed kernel
as JSON; the kernel sends back what the function returned (or the exception it raised), as JSON.
Only data crosses: numbers (nan and ±inf included), strings, None, booleans, tuples, lists, dicts
(any plain keys), numeric numpy arrays, and on the way in two kinds of test input, a
``numpy.random.Generator`` (its bit generator's state) and a table language model
(:class:`lmsample.toy.TableLM`). Nothing executable comes back: the grader rebuilds every value
from its own types, so an object that claims to equal everything cannot exist on its side.

This file is imported by the grader and, inside the sandbox, by the kernel (kernel_boot.py).
"""
from __future__ import annotations

import json

#: the largest answer the grader accepts from one call (characters of JSON)
MAX_ANSWER = 16 * 2**20
#: the deepest nesting accepted
MAX_DEPTH = 32


class WireError(ValueError):
    """A value that cannot cross (an unsupported type, too large, too deep, malformed)."""


def encode(value, depth: int = 0):
    """``value`` as JSON-able data with tags for what JSON lacks."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    kind = type(value)  # never value.__class__, which an object can fake
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"__f": repr(value)}
    if kind is tuple:
        return {"__t": [encode(v, depth + 1) for v in value]}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is dict:
        return {"__d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]}
    if kind is np.ndarray:
        if value.dtype.kind not in "biuf":
            raise WireError(f"a numpy array of dtype {value.dtype} (only numbers cross)")
        flat = [encode(float(x)) if value.dtype.kind == "f" else int(x) for x in value.ravel().tolist()]
        return {"__a": flat, "shape": list(value.shape), "dtype": value.dtype.str}
    if isinstance(value, np.generic) and kind.__module__ == "numpy":
        if value.dtype.kind in "biu":
            return bool(value) if value.dtype.kind == "b" else int(value)
        if value.dtype.kind == "f":
            return encode(float(value))
        raise WireError(f"a numpy {kind.__name__}")
    if kind is np.random.Generator:
        return {"__rng": value.bit_generator.state}
    if kind.__name__ == "TableLM" and kind.__module__ == "lmsample.toy":
        return {"__lm": encode(value.to_data(), depth + 1)}
    raise WireError(f"a {kind.__module__}.{kind.__name__} (expected numbers, strings, tuples, lists, dicts or numeric arrays)")


def decode(data, depth: int = 0):
    """The value that :func:`encode` gave ``data`` for, built from plain types only."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(v, depth + 1) for v in data]
    if kind is not dict or len(data) == 0:
        raise WireError(f"malformed data: {kind.__name__}")
    if "__f" in data:
        text = data["__f"]
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"malformed float {text!r}")
        return float(text)
    if "__t" in data:
        return tuple(decode(v, depth + 1) for v in data["__t"])
    if "__d" in data:
        out = {}
        for pair in data["__d"]:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict")
            key = decode(pair[0], depth + 1)
            try:
                hash(key)
            except TypeError:
                raise WireError("an unhashable dict key") from None
            out[key] = decode(pair[1], depth + 1)
        return out
    if "__a" in data:
        dtype = np.dtype(str(data["dtype"]))
        if dtype.kind not in "biuf":
            raise WireError(f"an array of dtype {dtype}")
        flat = [decode(v, depth + 1) for v in data["__a"]]
        if any(type(v) not in (bool, int, float) for v in flat):
            raise WireError("an array holding something other than numbers")
        shape = tuple(int(s) for s in data["shape"])
        return np.array(flat, dtype=dtype).reshape(shape)
    if "__rng" in data:
        state = data["__rng"]
        bit_generator = getattr(np.random, str(state["bit_generator"]))()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if "__lm" in data:
        from lmsample.toy import TableLM

        return TableLM.from_data(decode(data["__lm"], depth + 1))
    raise WireError("malformed data: unknown tag")


def dumps(value) -> str:
    return json.dumps(encode(value), allow_nan=False, separators=(",", ":"))


def loads(text: str):
    if type(text) is not str:
        raise WireError(f"expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_ANSWER:
        raise WireError(f"{len(text)} characters (at most {MAX_ANSWER})")
    return decode(json.loads(text))
