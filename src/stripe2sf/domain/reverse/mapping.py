"""Which Salesforce fields go to which Stripe customer field, and whether ownership lets them.

A mapping is active when Salesforce owns every field it reads (`[ownership]` "salesforce", or
"create_only": stripe2sf sets it when it creates the record, Salesforce owns it after). A
default mapping of a Stripe-owned field is inactive (shown so in the mapping document); one the
configuration names is an error (`reverse_problems`), because stripe2sf would write a field
back to the system that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stripe2sf.domain.matching.person import person_field
from stripe2sf.domain.reverse.config import (
    DEFAULT_FIELDS,
    PERSON_DEFAULT_FIELDS,
    SOURCE_OBJECTS,
    ReverseConfig,
)

SALESFORCE_OWNED: tuple[str, ...] = ("salesforce", "create_only")


class SyncConfig(Protocol):
    """What this module reads of `domain.config.SyncConfig` (which checks its
    `[salesforce_to_stripe]` with `reverse_problems`, so this module cannot import it)."""

    @property
    def salesforce_to_stripe(self) -> ReverseConfig: ...

    @property
    def person_accounts(self) -> bool: ...

    def owner_of(self, sobject: str, field: str) -> str: ...


@dataclass(frozen=True)
class ReverseMapping:
    stripe_field: str  # "email", "address.city"
    sources: tuple[str, ...]  # "Object.Field", all of one object; joined by a space
    configured: bool  # named in [salesforce_to_stripe].fields (not a default)

    @property
    def sobject(self) -> str:
        return self.sources[0].split(".", 1)[0]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(s.split(".", 1)[1] for s in self.sources)

    @property
    def source_text(self) -> str:
        return " + ".join(self.sources)

    def owners(self, config: SyncConfig) -> dict[str, str]:
        return {s: config.owner_of(*s.split(".", 1)) for s in self.sources}

    def active(self, config: SyncConfig) -> bool:
        return all(o in SALESFORCE_OWNED for o in self.owners(config).values())

    def stripe_owned(self, config: SyncConfig) -> tuple[str, ...]:
        """The source fields Stripe owns (what keeps the mapping inactive)."""
        return tuple(s for s, o in self.owners(config).items() if o not in SALESFORCE_OWNED)

    def change_fields(self, entity: str, person_accounts: bool) -> tuple[str, ...] | None:
        """The names this mapping's fields have in a change of `entity` (None: it does not
        read `entity`). With person accounts a Contact field also arrives on the Account
        under its person name (Email -> PersonEmail)."""
        if entity == self.sobject:
            return self.fields
        if person_accounts and entity == "Account" and self.sobject == "Contact":
            names = tuple(person_field(f) for f in self.fields)
            return None if any(n is None for n in names) else tuple(n for n in names if n)
        return None


def _sources(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def all_mappings(config: SyncConfig) -> tuple[ReverseMapping, ...]:
    """Defaults (by the org's account model) overridden by configured fields; "" drops one."""
    defaults = PERSON_DEFAULT_FIELDS if config.person_accounts else DEFAULT_FIELDS
    chosen: dict[str, ReverseMapping] = {
        k: ReverseMapping(k, _sources(v), False) for k, v in defaults.items()
    }
    for k, v in config.salesforce_to_stripe.fields.items():
        sources = tuple(s for s in _sources(v) if s)
        if not sources:
            chosen.pop(k, None)
        else:
            chosen[k] = ReverseMapping(k, sources, True)
    return tuple(chosen[k] for k in sorted(chosen))


def active_mappings(config: SyncConfig) -> tuple[ReverseMapping, ...]:
    return tuple(m for m in all_mappings(config) if m.active(config))


def _is_api_name(value: str) -> bool:
    return bool(value) and value.replace("_", "").isalnum() and not value[0].isdigit()


def reverse_problems(config: SyncConfig) -> list[str]:
    """Configuration errors of `[salesforce_to_stripe]`, one message per problem."""
    problems: list[str] = []
    table = config.salesforce_to_stripe
    for target, value in sorted(table.fields.items()):
        where = f'salesforce_to_stripe.fields."{target}"'
        sources = tuple(s for s in _sources(value) if s)
        if not sources:
            continue
        bad = [s for s in sources if s.count(".") != 1 or not all(map(_is_api_name, s.split(".")))]
        if bad:
            problems.append(f"{where}: expected 'Object.Field' Salesforce API names, got {bad}")
            continue
        objects = {s.split(".", 1)[0] for s in sources}
        if len(objects) != 1 or not objects <= set(SOURCE_OBJECTS):
            problems.append(
                f"{where}: the fields must all be of one object, Account or Contact; "
                f"got {list(sources)}"
            )
            continue
        if len(sources) > 1 and target != "name" and not target.startswith("address."):
            problems.append(f"{where}: only name and address parts may join several fields")
        mapping = ReverseMapping(target, sources, True)
        owned = mapping.stripe_owned(config)
        if owned:
            fixes = " and ".join(f'"{s}" = "salesforce"' for s in owned)
            problems.append(
                f"{where}: {', '.join(owned)} is owned by Stripe ([ownership]), and stripe2sf "
                f"never writes a field back to the system that owns it; set [ownership] {fixes} "
                f'(or "create_only"), or drop the mapping (set it to "")'
            )
    for user in table.ignore_user_ids:
        if not (user.startswith("005") and len(user) in (15, 18) and user.isalnum()):
            problems.append(
                f"salesforce_to_stripe.ignore_user_ids: expected User Ids (005..., 15 or 18 "
                f"characters), got {user!r}"
            )
    return problems


def mapping_for_stripe_field(config: SyncConfig) -> Mapping[str, ReverseMapping]:
    """Active mappings by Stripe field."""
    return {m.stripe_field: m for m in active_mappings(config)}
