"""`stripe2sf doctor`: is stripe2sf's database there and migrated to what this version needs?
(pure: `store.schema_state` reads it without creating anything)."""

from __future__ import annotations

from dataclasses import dataclass

from stripe2sf.domain.setup.doctor import Check

NAME = "database"
UPGRADE = "`stripe2sf db upgrade`"


@dataclass(frozen=True)
class SchemaState:
    """`missing`: why the URL names no stripe2sf database (None: it does); `current`: the
    revisions its alembic_version table holds; `revisions`: this stripe2sf's migrations,
    oldest first (the last is the head)."""

    missing: str | None
    current: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()


def database_check(where: str, state: SchemaState) -> Check:
    """`where`: the database as shown to people (password hidden)."""
    if state.missing is not None:
        return Check(
            NAME,
            False,
            f"{state.missing}",
            f"create it with {UPGRADE} (`serve` and `worker` also do at start), or point "
            "STRIPE2SF_DATABASE_URL at the database the service uses",
        )
    head = state.revisions[-1] if state.revisions else None
    unknown = [r for r in state.current if r not in state.revisions]
    if unknown:
        return Check(
            NAME,
            False,
            f"{where} is at revision {', '.join(unknown)}, which this stripe2sf does not know "
            f"(its latest is {head}): a newer stripe2sf migrated it",
            "run the stripe2sf version that migrated it, or a newer one; never run an older "
            "version on it",
        )
    if not state.current:
        return Check(
            NAME,
            False,
            f"{where} holds stripe2sf's tables but no migration revision",
            f"run {UPGRADE}",
        )
    if head is not None and tuple(state.current) != (head,):
        at = max(state.current, key=state.revisions.index)
        behind = len(state.revisions) - 1 - state.revisions.index(at)
        return Check(
            NAME,
            False,
            f"{where} is at revision {at}, {behind} migration(s) behind this stripe2sf's {head}",
            f"run {UPGRADE} (`serve` and `worker` also migrate at start)",
        )
    return Check(NAME, True, f"{where} is reachable and migrated (revision {head})")
