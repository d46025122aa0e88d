"""The mapping document finance and admins review: `stripe2sf mapping export`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from stripe2sf.domain.allowlist import source_spec
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.sources import CURRENCY_FIELD

COLUMNS = ("stripe_source", "meaning", "salesforce_field", "transform", "values", "owner", "note")


@dataclass(frozen=True)
class MappingRow:
    stripe_source: str
    meaning: str
    salesforce_field: str
    transform: str
    values: str
    owner: str
    note: str

    def cells(self) -> tuple[str, ...]:
        return (
            self.stripe_source,
            self.meaning,
            self.salesforce_field,
            self.transform,
            self.values,
            self.owner,
            self.note,
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
        "creates the record, then Salesforce owns it. `salesforce`: never written.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in mapping_rows(config):
        lines.append("| " + " | ".join(_md(c) for c in row.cells()) + " |")
    return "\n".join(lines) + "\n"
