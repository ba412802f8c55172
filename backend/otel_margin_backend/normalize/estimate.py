"""Token estimates for model calls that report no counts: tiktoken's ``o200k_base``, else four characters per token.

tiktoken downloads its encodings on first use, and a receiver must never block on the network (the download
has no timeout). So the encoding ships with otel-margin (``data/o200k_base.tiktoken.gz``): when tiktoken's cache
lacks a verified copy, the bundled one (checked against the SHA-256 tiktoken itself pins) is placed there and
tiktoken loads it as it would after a download. Four characters per token is left only for an installation
without tiktoken. Which estimator produced a count is recorded on the event (``otel_margin.token_estimator``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from decimal import ROUND_CEILING, Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "CharsPerTokenCounter",
    "TiktokenCounter",
    "TokenCounter",
    "default_token_counter",
    "estimate_tokens",
    "load_o200k_offline",
]

_O200K_NAME = "o200k_base"
_O200K_SOURCE = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
"""Where tiktoken fetches the encoding; its cache file is named by the SHA-1 of this string."""
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""The hash tiktoken pins for the file (tiktoken_ext/openai_public.py)."""
_BUNDLED = "o200k_base.tiktoken.gz"


class TokenCounter(Protocol):
    """Counts the tokens of a text."""

    @property
    def name(self) -> str:
        """Short name recorded on estimated events."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...


class CharsPerTokenCounter:
    """One token per four characters, rounded up: the usual rule of thumb for English text with OpenAI tokenizers.

    Deterministic and dependency-free; it undercounts code and non-Latin scripts, which the estimate factor only
    partly covers.
    """

    name = "chars/4"

    def count(self, text: str) -> int:
        """Return ``ceil(len(text) / 4)``."""
        return -(-len(text) // 4)


class TiktokenCounter:
    """Exact counts with a tiktoken encoding (special-token text is counted as ordinary text)."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encode = encoding.encode_ordinary
        self.name = encoding.name

    def count(self, text: str) -> int:
        """Number of tokens the encoding produces for ``text``."""
        return len(self._encode(text))


def _tiktoken_cache_file() -> Path | None:
    """The file tiktoken would read ``o200k_base`` from (same rules as ``tiktoken.load.read_file_cached``)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        folder = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        folder = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not folder:
        return None
    return Path(folder) / hashlib.sha1(_O200K_SOURCE.encode()).hexdigest()


def load_o200k_offline() -> TiktokenCounter | None:
    """Tiktoken's ``o200k_base``, if it can be loaded without the network.

    Returns:
        The counter, or None when tiktoken is not installed or its cache lacks a verified copy of the encoding.
    """
    try:
        import tiktoken
    except ImportError:
        return None
    path = _tiktoken_cache_file()
    if path is None or not (_verified(path) or _seed_cache(path)):
        return None
    return TiktokenCounter(tiktoken.get_encoding(_O200K_NAME))


def _verified(path: Path) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == _O200K_SHA256
    except OSError:
        return False


def _seed_cache(path: Path) -> bool:
    """Put the bundled encoding where tiktoken looks for it; False if that is impossible."""
    raw = gzip.decompress(resources.files("otel_margin_backend.normalize.data").joinpath(_BUNDLED).read_bytes())
    if hashlib.sha256(raw).hexdigest() != _O200K_SHA256:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(raw)
        partial.replace(path)  # atomic: a concurrent reader sees no half-written file
    except OSError:
        return False
    return True


@cache
def default_token_counter() -> TokenCounter:
    """``o200k_base`` when available offline, else four characters per token; decided once per process."""
    counter = load_o200k_offline()
    return counter if counter is not None else CharsPerTokenCounter()


def estimate_tokens(text: str, counter: TokenCounter, factor: Decimal) -> int:
    """Estimated tokens of ``text``: the counter's count times ``factor``, rounded up.

    Args:
        text: Prompt or completion text.
        counter: The tokenizer to count with.
        factor: Safety margin (``NormalizeConfig.token_estimate_factor``).

    Returns:
        ``ceil(count * factor)``, computed exactly; 0 for empty text.
    """
    if not text:
        return 0
    return int((Decimal(counter.count(text)) * factor).to_integral_value(rounding=ROUND_CEILING))
