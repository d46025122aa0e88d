"""The mapping document finance and admins review: `stripe2sf mapping export`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from stripe2sf.domain.allowlist import source_spec
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.reverse.mapping import all_mappings
from stripe2sf.domain.sources import CURRENCY_FIELD

COLUMNS = (
    "stripe_source",
    "meaning",
    "salesforce_field",
    "transform",
    "values",
    "owner",
    "note",
    "direction",
)
STRIPE_TO_SALESFORCE = "stripe -> salesforce"
SALESFORCE_TO_STRIPE = "salesforce -> stripe"


@dataclass(frozen=True)
class MappingRow:
    stripe_source: str
    meaning: str
    salesforce_field: str
    transform: str
    values: str
    owner: str
    note: str
    direction: str = STRIPE_TO_SALESFORCE

    def cells(self) -> tuple[str, ...]:
        return (
            self.stripe_source,
            self.meaning,
            self.salesforce_field,
            self.transform,
            self.values,
            self.owner,
            self.note,
            self.direction,
        )


def mapping_rows(config: SyncConfig) -> list[MappingRow]:
    o = config.objects
    rows = [
        MappingRow(
            "customer.id",
            "Stripe customer id",
            f"Account.{o.customer_id_field}",
            "none",
            "",
            "stripe",
            "External ID, unique: the link and upsert key",
        ),
        MappingRow(
            "customer.id",
            "Stripe customer id",
            f"Contact.{o.customer_id_field}",
            "none",
            "",
            "stripe",
            "External ID, unique",
        ),
        MappingRow(
            "charge.id",
            "Stripe charge id",
            f"{o.payment_object}.{o.payment_key_field}",
            "none",
            "",
            "stripe",
            "External ID, unique: payment upsert key",
        ),
        MappingRow(
            "(invoice.payment_failed / invoice.paid)",
            "dunning state",
            f"Account.{o.billing_status_field}",
            "picklist",
            "Current; Payment Overdue; At Risk",
            "stripe",
            "At Risk when the final attempt failed",
        ),
        MappingRow(
            "invoice.id + attempt_count",
            "one record per attempt",
            f"{config.dunning_object()}.{o.dedupe_key_field}",
            "none",
            "",
            "stripe",
            "External ID: invoice id:attempt",
        ),
    ]
    for m in sorted(config.effective_mappings, key=lambda m: (m.target_object, m.target_field)):
        spec = source_spec(m.source)
        values = "; ".join(f"{k}={v}" for k, v in (m.values or {}).items())
        note = m.note
        if m.effective_transform == "money":
            note = note or "major unit by currency exponent (JPY 0, USD 2, KWD 3 decimals)"
        rows.append(
            MappingRow(
                m.source,
                spec.description if spec else "",
                m.target,
                m.effective_transform,
                values,
                config.owner_of(m.target_object, m.target_field),
                note,
            )
        )
    if config.org.multi_currency is not False:
        money = sorted(
            {m.target_object for m in config.effective_mappings if m.effective_transform == "money"}
        )
        for sobject in money:
            rows.append(
                MappingRow(
                    "(the currency of the amounts written)",
                    "ISO currency code",
                    f"{sobject}.{CURRENCY_FIELD}",
                    "upper",
                    "",
                    config.owner_of(sobject, CURRENCY_FIELD),
                    "orgs with multiple currencies only ([org] multi_currency): the record's "
                    "amounts are read in it",
                )
            )
    for name, owner in sorted(config.effective_ownership.items()):
        if owner == "salesforce":
            rows.append(
                MappingRow("", "", name, "", "", "salesforce", "never written by stripe2sf")
            )
    return rows + reverse_rows(config)


def reverse_rows(config: SyncConfig) -> list[MappingRow]:
    """The Salesforce -> Stripe direction (`[salesforce_to_stripe]`): each mapping, whether
    ownership lets it write, and whether the flow is on."""
    on = config.salesforce_to_stripe.enabled
    rows = []
    for m in all_mappings(config):
        owners = m.owners(config)
        owner = "salesforce" if m.active(config) else "stripe"
        if not m.active(config):
            note = (
                f"inactive: Stripe owns {', '.join(m.stripe_owned(config))}; set [ownership] "
                '"...salesforce" to send it'
            )
        elif on:
            note = "written to Stripe when it changes in Salesforce; a Stripe edit is put back"
        else:
            note = "not written: [salesforce_to_stripe] is off"
        if any(o == "create_only" for o in owners.values()) and m.active(config):
            note += " (create_only: Salesforce's once the record exists)"
        if len(m.sources) > 1:
            note += "; joined by a space"
        rows.append(
            MappingRow(
                f"customer.{m.stripe_field}",
                "Stripe customer field",
                m.source_text,
                "none",
                "",
                owner,
                note,
                SALESFORCE_TO_STRIPE,
            )
        )
    return rows


def to_csv(config: SyncConfig) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in mapping_rows(config):
        writer.writerow(row.cells())
    return buf.getvalue()


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def to_markdown(config: SyncConfig) -> str:
    lines = [
        "# stripe2sf field mapping",
        "",
        "Owner `stripe`: stripe2sf keeps the field in step. `create_only`: set when stripe2sf "
        "creates the record, then Salesforce owns it. `salesforce`: never written to "
        "Salesforce; with `[salesforce_to_stripe]` on, its mapped fields are written to the "
        "linked Stripe customer (direction `salesforce -> stripe`).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in mapping_rows(config):
        lines.append("| " + " | ".join(_md(c) for c in row.cells()) + " |")
    return "\n".join(lines) + "\n"
