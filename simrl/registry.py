"""One registry per concept (advantage estimators, policy losses, aggregations, ...).

Each entry has a name (the one the field already uses), a small integer code (its
registration index), a numpy reference implementation (`fn`), and a one-line doc citing
its source. A concept whose entries carry more (the policy losses: every engine's form,
fields and capability flags; simrl/algorithms/policy_loss.py) stores its own entry type
with `put`. An unknown name raises and lists the valid ones.
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

    def put(self, entry: Any) -> Any:
        """Store an entry object of the concept's own type; it must have `name`, `code`
        (equal to the registration index), `fn` and `doc`."""
        if entry.name in self._entries:
            raise ValueError(f"{self.concept} {entry.name!r} is already registered")
        if entry.code != len(self._entries):
            raise ValueError(f"{self.concept} {entry.name!r}: code must be {len(self._entries)}")
        self._entries[entry.name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Remove the last-registered entry (tests register a toy entry and remove it)."""
        if name not in self._entries or list(self._entries)[-1] != name:
            raise ValueError(f"{self.concept} {name!r} is not the last registered entry")
        del self._entries[name]

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
