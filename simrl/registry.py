"""One registry per concept (advantage estimators, policy losses, aggregations, ...).

Each entry has a name (the one the field already uses), a small integer code (what the
numba kernels switch on), a numpy reference implementation, and a one-line doc citing
its source. An unknown name raises and lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    code: int
    fn: Callable[..., Any] | None
    doc: str


class Registry:
    """Name -> Entry, in registration order; codes are the registration indices."""

    def __init__(self, concept: str):
        self.concept = concept
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, doc: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, doc, fn)
            return fn

        return deco

    def add(self, name: str, doc: str, fn: Callable[..., Any] | None = None) -> Entry:
        if name in self._entries:
            raise ValueError(f"{self.concept} {name!r} is already registered")
        entry = Entry(name, len(self._entries), fn, doc)
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.concept} {name!r}; valid: {', '.join(self.names)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def code(self, name: str) -> int:
        return self[name].code

    def by_code(self, code: int) -> Entry:
        return list(self._entries.values())[code]
