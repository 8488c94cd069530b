"""The token key and the published token keys for the hot path: from the registry's cache
(:meth:`keys.registry.KeyRegistry.signer_if_cached`, ``published_if_cached``), or, when
the cache has none (first use, or its few seconds ended while the server was quiet), read
on a thread once for all the requests of that moment (:class:`SingleFlight`), which fills
the cache for the next ones. Before, such requests went to the general path together."""

from __future__ import annotations

from idp.hotpath.single_flight import SingleFlight
from keys.managed import KeyInfo, ManagedSigner
from keys.registry import KeyRegistry


class KeyLoader:
    def __init__(self, registry: KeyRegistry) -> None:
        self.registry = registry
        self._signers: SingleFlight[ManagedSigner] = SingleFlight()
        self._published: SingleFlight[list[KeyInfo]] = SingleFlight()

    async def signer(self, purpose: str) -> ManagedSigner:
        """The active key of ``purpose``."""
        cached = self.registry.signer_if_cached(purpose)
        if cached is not None:
            return cached
        return await self._signers.get(purpose, lambda: self.registry.signer(purpose))

    async def published(self, purpose: str) -> list[KeyInfo]:
        """The published keys of ``purpose`` (next, active, retired still published)."""
        cached = self.registry.published_if_cached(purpose)
        if cached is not None:
            return cached
        return await self._published.get(purpose, lambda: self.registry.published(purpose))
