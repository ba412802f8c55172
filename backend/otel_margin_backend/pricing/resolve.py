"""Name resolution: which priced model a span's (provider, model) pair refers to, and how we know.

Spans name models every way there is: dated snapshots (``gpt-4o-2024-08-06``), gateway prefixes
(``openrouter/anthropic/claude-3.5-sonnet``), Azure deployment names, Bedrock ids with cross-region
prefixes (``us.anthropic.claude-3-5-sonnet-20240620-v1:0``), Vertex paths and ``@version`` suffixes.
The rules, in the order they are tried (the first hit wins):

1. An alias from the overrides file replaces the name (and optionally the provider).
2. For Azure, a configured deployment → model map replaces the deployment name.
3. A custom model from the overrides file with that name is used (its dates are checked at pricing
   time; outside them the data price, if any, applies).
4. Each spelling of the name (as given, then with gateway prefix / Vertex path / ARN removed) is
   looked up, with genai-prices' own matching, in: the span's provider, the provider whose API
   pattern matches ``server.address``, and the provider a gateway prefix names. genai-prices'
   fallbacks apply (Azure → OpenAI, Vertex → Anthropic, …).
5. The same with looser spellings (``@version``, region prefix, ``-v1:0``, ``-latest`` and date
   suffixes removed).
6. Only when the span names no provider, a gateway (``litellm``) or a provider genai-prices does
   not know: the provider is inferred from the model name, as genai-prices does without a provider.

A span that names a known provider which lacks the model stays unresolved rather than borrowing
another vendor's price (a self-hosted Llama behind the OpenAI SDK is not Meta's API).
Results are cached per (provider, model, server address); the caches are bounded by entries and by bytes, and a
name longer than ``names.MAX_NAME_CHARS`` is never looked up or cached (it resolves to ``UNRESOLVED``; an over-long
``server.address`` is ignored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import ModelInfo, Provider

from otel_margin_backend.pricing import names
from otel_margin_backend.pricing.cache import DEFAULT_MAX_BYTES, BoundedCache
from otel_margin_backend.pricing.types import PriceSource

DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a (provider, model) pair resolved, for ``otel-margin prices show`` and debugging."""

    provider: str
    """The provider as the span gave it."""
    model: str
    """The model as the span gave it."""
    source: PriceSource
    """Data, custom (overrides file) or unresolved."""
    provider_id: str | None = None
    """The billing provider: a genai-prices provider id, or a custom model's provider."""
    model_id: str | None = None
    """The genai-prices model id, or the custom model's name."""
    data_provider_id: str | None = None
    """The provider whose data holds the model; differs from ``provider_id`` on a fallback (Azure → OpenAI)."""
    model_ref: str | None = None
    """The spelling that matched."""
    steps: tuple[str, ...] = ()
    """Each rule that applied, in order, in plain words."""

    @property
    def resolved(self) -> bool:
        """True if the pair has a price source."""
        return self.source is not PriceSource.UNRESOLVED

    def describe(self) -> str:
        """One line: what the pair resolved to and through which rules."""
        head = f"{self.provider or '(no provider)'} / {self.model or '(no model)'}"
        target = f"{self.source.value} {self.provider_id}/{self.model_id}" if self.resolved else "unresolved"
        return f"{head} → {target}" + (f" ({'; '.join(self.steps)})" if self.steps else "")


@dataclass(frozen=True, slots=True)
class AliasTarget:
    """Where an alias points."""

    model: str
    """The model to price the alias as (lookup form)."""
    provider: str | None = None
    """Its provider (lookup form), or None to keep the span's provider."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolution plus the data objects the price book needs to price it."""

    resolution: Resolution
    data_provider: Provider | None = field(default=None, repr=False)
    """The billing provider's genai-prices record (for price variants)."""
    data_model: ModelInfo | None = field(default=None, repr=False)
    """The matched model's genai-prices record."""
    custom_key: tuple[str | None, str] | None = None
    """The matching custom model's (provider, model) key in the overrides file, if any."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    provider_id: str
    model: str
    steps: tuple[str, ...]


class Resolver:
    """Resolves span names against one data snapshot and one overrides file; cached and bounded.

    Args:
        providers: The genai-prices providers of the snapshot.
        aliases: Model name (lookup form) → target, from the overrides file.
        custom_models: (provider or None, model) keys of the overrides file's custom models, in
            lookup form; provider None means "any provider".
        azure_deployments: Azure deployment name → model name.
        cache_size: Most (provider, model, server address) results kept.
        cache_bytes: Most estimated bytes each cache keeps.
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        aliases: Mapping[str, AliasTarget] | None = None,
        custom_models: Sequence[tuple[str | None, str]] = (),
        azure_deployments: Mapping[str, str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._providers = list(providers)
        self._by_id = {p.id: p for p in self._providers}
        self._aliases = dict(aliases or {})
        self._custom = frozenset(custom_models)
        self._azure = {names.model_key(k): names.model_key(v) for k, v in (azure_deployments or {}).items()}
        self._cache: BoundedCache[tuple[str, str, str | None], Resolved] = BoundedCache(
            cache_size, max_bytes=cache_bytes, entry_bytes=1024
        )
        self._api_cache: BoundedCache[str, str] = BoundedCache(cache_size, max_bytes=cache_bytes, entry_bytes=128)
        """server.address -> provider id whose API pattern matches it ("" for none)."""

    def resolve(self, provider: str | None, model: str | None, *, server_address: str | None = None) -> Resolved:
        """Resolve one (provider, model) pair.

        Args:
            provider: The provider as the span names it (``gen_ai.provider.name`` or older spellings).
            model: The model as the span names it.
            server_address: The span's ``server.address``, used to recognise the serving provider
                by its API host when the named provider lacks the model.

        Returns:
            The resolution (never raises; an unknown name resolves to ``UNRESOLVED``, and so does a provider or
            model name longer than ``names.MAX_NAME_CHARS``, without being looked up).
        """
        provider, model = provider or "", model or ""
        if len(provider) > names.MAX_NAME_CHARS or len(model) > names.MAX_NAME_CHARS:
            return _unresolved(provider, model, (f"the name is over {names.MAX_NAME_CHARS} characters: not looked up",))
        if server_address is not None and len(server_address) > names.MAX_NAME_CHARS:
            server_address = None
        key = (provider, model, server_address)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._resolve(provider, model, server_address)
        self._cache.put(key, result)
        return result

    def provider_id(self, provider: str) -> str | None:
        """The genai-prices id of a provider name (OTel, OpenLLMetry, LiteLLM or genai-prices spelling).

        Args:
            provider: A provider name as spans or users write it.

        Returns:
            The genai-prices provider id, or None if the data has no such provider.
        """
        key = names.provider_key(provider)
        if not key or key in names.GATEWAY_NAMES:
            return None
        known = names.known_provider_id(key)
        if known is not None:
            return known if known in self._by_id else None
        found = find_provider_by_id(self._providers, key)
        return found.id if found is not None else None

    def _resolve(self, provider: str, model: str, server_address: str | None) -> Resolved:
        steps: list[str] = []
        p_key, m_key = names.provider_key(provider), names.model_key(model)
        if not m_key:
            return _unresolved(provider, model, ("the span names no model",))
        pid = self.provider_id(p_key)
        if pid is not None and pid != p_key:
            steps.append(f"provider {p_key!r} → {pid!r}")
        elif pid is None and p_key and p_key not in names.GATEWAY_NAMES:
            steps.append(f"provider {p_key!r} is not in the price data")

        alias = self._aliases.get(m_key)
        if alias is not None:
            steps.append(f"alias {m_key!r} → {(alias.provider + '/') if alias.provider else ''}{alias.model}")
            m_key = alias.model
            if alias.provider is not None:
                p_key = alias.provider
                pid = self.provider_id(p_key)
        if pid == "azure" and m_key in self._azure:
            steps.append(f"Azure deployment {m_key!r} → {self._azure[m_key]!r}")
            m_key = self._azure[m_key]

        custom_key = self._find_custom(p_key, pid, m_key)
        # A custom model falls back to data only under a provider the span (or alias) names.
        data = self._find_data(pid, m_key, self._server_provider(server_address, pid), infer=custom_key is None)
        if custom_key is not None:
            steps.append(f"custom model {custom_key[1]!r} from the overrides file")
            resolution = Resolution(
                provider=provider,
                model=model,
                source=PriceSource.CUSTOM,
                provider_id=custom_key[0] or pid or p_key or None,
                model_id=custom_key[1],
                data_provider_id=data[0].id if data else None,
                model_ref=m_key,
                steps=tuple(steps + (list(data[2]) if data else [])),
            )
            return Resolved(resolution, data[0] if data else None, data[1] if data else None, custom_key)
        if data is None:
            steps.append("no model in the price data matches")
            return _unresolved(provider, model, tuple(steps))
        billing, info, data_steps, ref = data
        holder = billing if any(info is m for m in billing.models) else self._holder(billing, info)
        if holder is not billing:
            data_steps = (*data_steps, f"priced from {holder.id!r} data (genai-prices fallback for {billing.id!r})")
        resolution = Resolution(
            provider=provider,
            model=model,
            source=PriceSource.DATA,
            provider_id=billing.id,
            model_id=info.id,
            data_provider_id=holder.id,
            model_ref=ref,
            steps=tuple(steps) + data_steps,
        )
        return Resolved(resolution, billing, info)

    def _find_data(
        self, pid: str | None, m_key: str, server_pid: str | None, *, infer: bool
    ) -> tuple[Provider, ModelInfo, tuple[str, ...], str] | None:
        spellings = names.spellings(m_key)
        for loose in (False, True):
            for spelling in spellings:
                readings = [(spelling.model, "")]
                if loose:
                    readings = [(name, note) for name, note in names.loose_variants(spelling.model)]
                for name, note in readings:
                    for candidate in self._candidates(pid, server_pid, spelling, name, note):
                        found = self._lookup(candidate)
                        if found is not None:
                            return found
        if pid is None and infer:
            for spelling in spellings:
                for name, note in [(spelling.model, ""), *names.loose_variants(spelling.model)]:
                    for provider in self._providers:
                        if provider.model_match is not None and provider.model_match.is_match(name):
                            why = f"provider {provider.id!r} inferred from the model name"
                            found = self._lookup(_Candidate(provider.id, name, _notes(spelling.note, note, why)))
                            if found is not None:
                                return found
        return None

    def _candidates(
        self, pid: str | None, server_pid: str | None, spelling: names.Spelling, name: str, note: str
    ) -> list[_Candidate]:
        out: list[_Candidate] = []
        for provider_id, why in (
            (pid, ""),
            (server_pid, f"provider {server_pid!r} recognised from server.address"),
            (spelling.provider_hint, f"provider {spelling.provider_hint!r} from the model name"),
        ):
            if provider_id is not None and all(c.provider_id != provider_id for c in out):
                out.append(_Candidate(provider_id, name, _notes(spelling.note, note, why)))
        return out

    def _lookup(self, candidate: _Candidate) -> tuple[Provider, ModelInfo, tuple[str, ...], str] | None:
        provider = self._by_id.get(candidate.provider_id)
        if provider is None:
            return None
        info = provider.find_model(candidate.model, all_providers=self._providers)
        if info is None:
            return None
        return provider, info, candidate.steps, candidate.model

    def _holder(self, billing: Provider, info: ModelInfo) -> Provider:
        for provider_id in billing.fallback_model_providers or ():
            holder = self._by_id.get(provider_id)
            if holder is not None and any(info is m for m in holder.models):
                return holder
        return billing

    def _server_provider(self, server_address: str | None, pid: str | None) -> str | None:
        if not server_address:
            return None
        found = self._api_cache.get(server_address)
        if found is None:
            url = server_address if "://" in server_address else f"https://{server_address}"
            found = next((p.id for p in self._providers if re.match(p.api_pattern, url)), "")
            self._api_cache.put(server_address, found)
        return found if found and found != pid else None

    def _find_custom(self, p_key: str, pid: str | None, m_key: str) -> tuple[str | None, str] | None:
        if not self._custom:
            return None
        for spelling in names.spellings(m_key):
            for key in ((p_key, spelling.model), (pid, spelling.model), (None, spelling.model)):
                if key in self._custom:
                    return key
        return None


def _notes(*notes: str) -> tuple[str, ...]:
    return tuple(note for note in notes if note)


def _unresolved(provider: str, model: str, steps: tuple[str, ...]) -> Resolved:
    return Resolved(Resolution(provider=provider, model=model, source=PriceSource.UNRESOLVED, steps=steps))
