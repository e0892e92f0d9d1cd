"""The embedder accepts only the upstream model's files: weights and tokenizer checked by SHA-256."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.errors import MemoryUnavailable
from quarterdeck.memory import embedder


def _model_copy(tmp_path: Path) -> Path:
    """A model directory with the installed carrier's weights and a copy of its tokenizer.json."""
    real = embedder.model_dir()
    (tmp_path / "model.safetensors").symlink_to(real / "model.safetensors")
    (tmp_path / "tokenizer.json").write_bytes((real / "tokenizer.json").read_bytes())
    return tmp_path


def test_another_tokenizer_json_is_refused(tmp_path: Path) -> None:
    where = _model_copy(tmp_path)
    tokenizer = where / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes().replace(b'"[UNK]"', b'"[UNKNOWN]"', 1))
    with pytest.raises(MemoryUnavailable, match=r"tokenizer\.json is not .*all-MiniLM-L6-v2's tokenizer\.json"):
        embedder.Embedder(where)


def test_a_missing_tokenizer_json_is_a_clear_error(tmp_path: Path) -> None:
    where = _model_copy(tmp_path)
    (where / "tokenizer.json").unlink()
    with pytest.raises(MemoryUnavailable, match=r"tokenizer\.json: No such file"):
        embedder.Embedder(where)


def test_the_installed_carrier_s_files_are_the_upstream_ones() -> None:
    assert embedder.Embedder(embedder.model_dir()).dimensions == embedder.DIMENSIONS
