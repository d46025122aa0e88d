"""Find the Salesforce Account/Contact of a Stripe customer, and the writes that link it.

Order (first hit wins):
1. an Account already linked by `Stripe_Customer_Id__c`;
2. Contacts whose Email equals the customer's email (case-insensitive, exact). One: link
   it and its Account. Several: the configured rule - `oldest` (earliest CreatedDate),
   `most_recently_active` (latest LastActivityDate, ties to the oldest) or `review` (link
   nothing; a Task asks a person to choose);
3. optionally Accounts whose Website host equals the email's domain (free-mail domains
   never match); several follow the same rule;
4. otherwise create Account + Contact (upsert by external id, so a retry cannot duplicate);
   in an org with Person Accounts (`[org] account_model`), a person account instead
   (`matching.person`): one Account write whose person contact is the customer's Contact.
   A person account's PersonEmail is its person contact's Email, so step 2 finds person
   accounts and business Contacts alike.
Never a silent guess: every resolution carries a reason that ends up in the plan.

A create that a Salesforce duplicate rule refused (`matching.duplicates`) is planned again as a
link to the record the rule matched, or as a review item; never saved anyway.

A customer never writes into another customer's records. A Contact linked to another Stripe
customer, or under an Account linked to one, is not a match; nor is any Contact of an email
that another customer claimed first (`email_claims` in our database, decided before any
Salesforce write, so two new customers of one email on parallel workers cannot both create
or link its Contact). Such a customer gets an Account of its own, no Contact (one email,
one Contact) and a review Task naming the other customer (`shared_email`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import (
    AccountRecord,
    ContactRecord,
    LookupKind,
    PlanContext,
    claim_key,
    normalize_email,
)
from stripe2sf.domain.matching import duplicates
from stripe2sf.domain.matching.person import person_account_values
from stripe2sf.domain.operations import Operation, RecordRef
from stripe2sf.domain.sources import customer_sources, mapped_fields, payment_method_sources
from stripe2sf.domain.stripe_views import CustomerView, expanded_default_card, payment_method_view

Kind = Literal[
    "linked", "contact_match", "domain_match", "create", "review", "shared_email", "unmatched"
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Resolution:
    kind: Kind
    reason: str
    account: AccountRecord | None = None
    contact: ContactRecord | None = None
    candidates: tuple[str, ...] = ()
    assumed: tuple[str, ...] = field(default=())
    other_customer: str | None = None  # shared_email: the customer that has the email


def belongs_to_other(contact: ContactRecord, customer_id: str) -> str | None:
    """The other Stripe customer `contact` (or its Account) is linked to, if any."""
    for owner in (contact.customer_id, contact.account_customer_id):
        if owner is not None and owner != customer_id:
            return owner
    return None


@dataclass(frozen=True)
class EmailOwners:
    """Who has an email, as seen by one customer."""

    free: tuple[ContactRecord, ...]  # Contacts of the email linked to no other customer
    other_customer: str | None = None  # another customer that has it (claim holder first)
    other_contact: ContactRecord | None = None  # a Contact of the email of another customer
    claim_answered: bool = False  # False: the claim lookup was not done
    claimed_by_other: bool = False  # another customer claimed the email first

    @property
    def taken(self) -> bool:
        """Another customer has the email, so this one links or creates no Contact for it:
        it claimed the email first, or every Contact of the email is another's."""
        return self.claimed_by_other or (self.other_contact is not None and not self.free)


def email_owners(customer_id: str, email: str, ctx: PlanContext) -> EmailOwners:
    holder = ctx.email_holder(customer_id, email)
    contacts = ctx.contacts_for(email)
    others = [c for c in contacts if belongs_to_other(c, customer_id)]
    by_other = holder is not None and holder != customer_id
    return EmailOwners(
        free=tuple(c for c in contacts if not belongs_to_other(c, customer_id)),
        other_customer=holder
        if by_other
        else next((belongs_to_other(c, customer_id) for c in others), None),
        other_contact=others[0] if others else None,
        claim_answered=ctx.has(LookupKind.EMAIL_CLAIM, claim_key(customer_id, email)),
        claimed_by_other=by_other,
    )


def _oldest(records: list[Any]) -> Any:
    return min(records, key=lambda r: (r.created or _EPOCH, r.id))


def _most_recent(records: list[Any]) -> Any:
    return min(
        records,
        key=lambda r: (-(r.last_activity or _EPOCH).timestamp(), r.created or _EPOCH, r.id),
    )


def choose(records: list[Any], rule: str) -> Any | None:
    """Apply the several-matches rule; None means 'review'."""
    if rule == "oldest":
        return _oldest(records)
    if rule == "most_recently_active":
        return _most_recent(records)
    return None


def website_host(website: str | None) -> str | None:
    if not website:
        return None
    host = website.strip().lower()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    host = host.split("/", 1)[0].split(":", 1)[0]
    return host.removeprefix("www.") or None


def resolve(
    customer_id: str, customer: CustomerView | None, ctx: PlanContext, config: SyncConfig
) -> Resolution:
    assumed: list[str] = []
    if not ctx.has(LookupKind.SF_ACCOUNT_BY_CUSTOMER, customer_id):
        assumed.append(f"no Account is linked to {customer_id} (lookup not done)")
    account = ctx.account_for(customer_id)
    if account is not None:
        return Resolution("linked", f"Account {account.id} is linked to {customer_id}", account)
    linked = ctx.linked_contact(customer_id)
    if linked is not None:
        return Resolution(
            "contact_match", f"Contact {linked.id} is linked to {customer_id}", contact=linked
        )
    refused = duplicates.choice(ctx, "Account", customer_id, config.matching.on_duplicate)
    if refused is not None and refused.kind == "review":
        return Resolution(
            "review", refused.reason, candidates=refused.candidates, assumed=tuple(assumed)
        )
    if customer is None:
        return Resolution(
            "create",
            f"Stripe customer {customer_id} not fetched; Account keyed by its id",
            assumed=tuple(assumed),
        )
    rule = config.matching.multiple_contacts
    if customer.email and config.matching.by_email:
        email = normalize_email(customer.email)
        if not ctx.has(LookupKind.SF_CONTACTS_BY_EMAIL, email):
            assumed.append(f"no Contact has email {email} (lookup not done)")
        owners = email_owners(customer_id, email, ctx)
        if not owners.claim_answered:
            assumed.append(f"no other customer claimed email {email} (lookup not done)")
        if owners.taken:
            return _shared_email(customer_id, email, owners, assumed)
        contacts = list(owners.free)
        # Several Contacts with the email are never guessed between, even when some of them
        # already belong to other customers: which of the rest is this customer's is as
        # unknown as before (and linking one would claim its Account).
        several = len(ctx.contacts_for(email)) > 1
        if contacts:
            pick = choose(contacts, rule) if several else contacts[0]
            if pick is None:
                return Resolution(
                    "review",
                    f"{len(ctx.contacts_for(email))} Contacts have email {email}; "
                    "a person must choose",
                    candidates=tuple(c.id for c in contacts),
                    assumed=tuple(assumed),
                )
            how = f"{rule} of {len(contacts)}" if several else "the only"
            return Resolution(
                "contact_match",
                f"Contact {pick.id} ({how} Contact with email {email})",
                contact=pick,
                assumed=tuple(assumed),
            )
    domain = customer.email_domain
    free = {d.lower() for d in config.matching.free_email_domains}
    if config.matching.by_domain and domain and domain not in free:
        accounts = [a for a in ctx.accounts_for_domain(domain) if website_host(a.website) == domain]
        if accounts:
            pick = accounts[0] if len(accounts) == 1 else choose(accounts, rule)
            if pick is None:
                return Resolution(
                    "review",
                    f"{len(accounts)} Accounts match domain {domain}; a person must choose",
                    candidates=tuple(a.id for a in accounts),
                    assumed=tuple(assumed),
                )
            return Resolution(
                "domain_match",
                f"Account {pick.id} matches domain {domain}",
                account=pick,
                assumed=tuple(assumed),
            )
    if not config.matching.create_missing:
        return Resolution("unmatched", f"no match for {customer_id}; creation is disabled")
    return Resolution(
        "create", f"no Account or Contact matches {customer_id}", assumed=tuple(assumed)
    )


def _shared_email(
    customer_id: str, email: str, owners: EmailOwners, assumed: list[str]
) -> Resolution:
    other, contact = owners.other_customer, owners.other_contact
    if owners.claimed_by_other:
        why = f"Stripe customer {other} has email {email} first"
    else:
        why = f"every Contact with email {email} belongs to another Stripe customer ({other})"
    if contact is not None:
        why += f"; its Contact is {contact.id}"
    return Resolution(
        "shared_email",
        f"{why}: {customer_id} gets an Account of its own and no Contact",
        contact=contact,
        candidates=tuple(c for c in (contact.id if contact else None,) if c),
        assumed=tuple(assumed),
        other_customer=other,
    )


@dataclass
class CustomerWrites:
    """Operations linking/creating the customer's records, and references to them."""

    operations: list[Operation] = field(default_factory=list)
    account_ref: RecordRef | None = None
    account_id: str | None = None  # Salesforce Id, when already known
    contact_id: str | None = None
    contact_ref: RecordRef | None = None
    account_owner_id: str | None = None
    account_op: str | None = None
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def polymorphic_refs(self) -> tuple[RecordRef | None, RecordRef | None]:
        """(What, Who) for a Task: by Salesforce Id when known, since external-id
        references on polymorphic fields are not accepted everywhere; by external id
        only for records this very plan creates."""
        what = RecordRef("Account", "Id", self.account_id) if self.account_id else self.account_ref
        who = RecordRef("Contact", "Id", self.contact_id) if self.contact_id else self.contact_ref
        return what, who


def customer_writes(
    customer_id: str,
    customer: CustomerView | None,
    resolution: Resolution,
    ctx: PlanContext,
    config: SyncConfig,
    *,
    sync_fields: bool,
    customer_raw: dict[str, Any] | None = None,
) -> CustomerWrites:
    """Writes for a resolution. `sync_fields`: also write Stripe-owned customer fields
    (customer.* events); payments only link or create."""
    key = config.objects.customer_id_field
    out = CustomerWrites()
    acc_ref = RecordRef("Account", key, customer_id)
    con_ref = RecordRef("Contact", key, customer_id)
    values = customer_sources(customer, customer_raw) if customer else {}
    notes = out.notes

    def fields(target: str, creating: bool) -> dict[str, Any]:
        if not values:
            return {}
        return mapped_fields(config, "customer", target, values, creating=creating, notes=notes)

    on_duplicate = config.matching.on_duplicate
    account_dup = duplicates.choice(ctx, "Account", customer_id, on_duplicate)
    contact_dup = duplicates.choice(ctx, "Contact", customer_id, on_duplicate)
    account_link = account_dup.account if account_dup and account_dup.kind == "link" else None

    def new_contact(after: str | None, reason: str) -> None:
        """A Contact for the customer under its Account (written first by operation `after`);
        the Contact a duplicate rule matched instead, when one refused to create it."""
        if contact_dup is not None:
            duplicate_contact(contact_dup, after)
            return
        out.operations.append(
            Operation(
                "contact",
                "upsert",
                "Contact",
                key,
                customer_id,
                fields("Contact", True),
                refs={"AccountId": acc_ref},
                depends_on=(after,) if after else (),
                reason=reason,
            )
        )
        out.contact_ref = con_ref

    def duplicate_contact(choice: duplicates.Choice, after: str | None) -> None:
        if choice.contact is None:
            _review_task(
                out,
                customer_id,
                ctx,
                config,
                subject=f"Review Stripe customer {customer_id}: a duplicate rule matched "
                "its Contact",
                description=(
                    f"{choice.reason}. Candidates: {', '.join(choice.candidates) or 'none'}. "
                    f"Set {key} = {customer_id} on the right Contact."
                ),
                reason=choice.reason,
            )
            out.notes.append(f"customer {customer_id}'s Contact is in the review queue")
            return
        contact = choice.contact
        refs = {"AccountId": acc_ref} if not contact.account_id and out.account_ref else {}
        out.operations.append(
            Operation(
                "link_contact",
                "update",
                "Contact",
                "Id",
                contact.id,
                {key: customer_id, **fields("Contact", False)},
                refs=refs,
                depends_on=(after,) if after and refs else (),
                reason=choice.reason,
            )
        )
        out.contact_id, out.contact_ref = contact.id, con_ref

    def link_account(account: AccountRecord, reason: str) -> None:
        """Link an existing Account (matched by domain, or by a duplicate rule instead of the
        one it refused to create) to the customer."""
        out.operations.append(
            Operation(
                "link_account",
                "update",
                "Account",
                "Id",
                account.id,
                {key: customer_id, **(fields("Account", False) if sync_fields else {}), **card},
                reason=reason,
            )
        )
        out.account_id, out.account_owner_id = account.id, account.owner_id
        out.account_ref, out.account_op = acc_ref, "link_account"

    def upsert_account(values: dict[str, Any], reason: str) -> None:
        """The customer's own Account, written (or created) by its customer id."""
        out.operations.append(
            Operation("account", "upsert", "Account", key, customer_id, values, reason=reason)
        )
        out.account_ref, out.account_op = acc_ref, "account"

    def own_account(reason: str) -> None:
        if account_link is not None and account_dup is not None:
            link_account(account_link, account_dup.reason)
            return
        upsert_account({**(fields("Account", True) or {"Name": customer_id}), **card}, reason)

    def person_account(reason: str, *, with_email: bool = True) -> None:
        """The customer's own person account: its person contact is the customer's Contact
        (found by the customer id it carries, `contact_ref`). When a duplicate rule refused to
        create it, the Account the rule matched is linked instead; its Contact (a person
        account's person contact) is linked by the customer's next event, which finds the
        Account by the customer id."""
        if account_link is not None and account_dup is not None:
            link_account(account_link, account_dup.reason)
            out.notes.append(f"{customer_id}'s Contact is linked once its Account is read again")
            return
        values = person_account_values(
            fields("Account", True),
            fields("Contact", True),
            record_type_id=config.org.person_record_type_id,
            customer_field=key,
            customer_id=customer_id,
            last_name=customer.first_last[1] if customer else customer_id,
            with_email=with_email,
            notes=notes,
        )
        upsert_account({**values, **card}, reason)
        out.contact_ref = con_ref

    linked_contact = ctx.linked_contact(customer_id)
    kind = resolution.kind
    # An Account this plan creates or links shows the card on file at once: the card events
    # may have come while the customer had no Account (in review), and are not repeated.
    card = (
        {}
        if kind in ("linked", "review", "unmatched") or customer is None
        else first_card(customer, customer_raw, ctx, config, out)
    )
    if kind == "linked":
        assert resolution.account is not None
        out.account_ref, out.account_owner_id = acc_ref, resolution.account.owner_id
        out.account_id = resolution.account.id
        out.contact_id = linked_contact.id if linked_contact else None
        if sync_fields and (acc_fields := fields("Account", False)):
            upsert_account(acc_fields, f"Stripe-owned fields of {customer_id}")
        person_contact = resolution.account.person_contact_id
        if linked_contact is None and resolution.account.is_person and person_contact:
            # a person account linked by hand: its person contact is the customer's Contact
            out.operations.append(
                Operation(
                    "link_contact",
                    "update",
                    "Contact",
                    "Id",
                    person_contact,
                    {key: customer_id, **(fields("Contact", False) if sync_fields else {})},
                    reason=f"link: the person contact of person account {resolution.account.id}",
                )
            )
            out.contact_id, out.contact_ref = person_contact, con_ref
            return out
        if linked_contact is not None:
            out.contact_ref = con_ref
            if sync_fields and (con_fields := fields("Contact", False)):
                # By Id: an upsert by external id would create a Contact without its
                # required LastName if the record went away or was relinked meanwhile.
                out.operations.append(
                    Operation(
                        "contact",
                        "update",
                        "Contact",
                        "Id",
                        linked_contact.id,
                        con_fields,
                        reason=f"Stripe-owned fields of {customer_id} (its linked Contact)",
                    )
                )
        elif contact_dup is not None:  # a duplicate rule refused its Contact: link or review
            new_contact(None, "the Contact a duplicate rule matched")
        elif customer is not None and sync_fields:
            _contact_for_linked_account(
                out, customer_id, customer, ctx, config, fields, new_contact
            )
        return out
    if kind == "contact_match":
        contact = resolution.contact
        assert contact is not None
        out.account_id, out.contact_id = contact.account_id, contact.id
        shared = contact.account_customer_id not in (None, customer_id)
        if contact.account_id and shared:
            # The Contact is this customer's, but its Account is another customer's: never
            # write into that one. This customer gets an Account of its own; the Contact
            # stays where a person put it (AccountId is relationship data).
            out.account_id = None
            own_account(
                f"Account {contact.account_id} of Contact {contact.id} is linked to "
                f"{contact.account_customer_id}: {customer_id} gets its own"
            )
            out.notes.append(
                f"Account {contact.account_id} is linked to {contact.account_customer_id}; "
                f"{customer_id} has an Account of its own"
            )
            contact_refs: dict[str, RecordRef] = {}
            deps: tuple[str, ...] = ()
        elif contact.account_id:
            out.operations.append(
                Operation(
                    "link_account",
                    "update",
                    "Account",
                    "Id",
                    contact.account_id,
                    {
                        key: customer_id,
                        **(fields("Account", False) if sync_fields else {}),
                        **card,
                    },
                    reason=f"link: Account of {resolution.reason}",
                )
            )
            out.account_ref = acc_ref
            out.account_op = "link_account"
            contact_refs, deps = {}, ()
        else:
            if account_link is not None and account_dup is not None:
                link_account(account_link, account_dup.reason)
            else:
                out.operations.append(
                    Operation(
                        "account",
                        "upsert",
                        "Account",
                        key,
                        customer_id,
                        {**fields("Account", True), **card},
                        reason="matched Contact has no Account",
                    )
                )
                out.account_ref, out.account_op = acc_ref, "account"
            contact_refs, deps = {"AccountId": acc_ref}, (str(out.account_op),)
        out.account_owner_id = contact.owner_id
        out.operations.append(
            Operation(
                "link_contact",
                "update",
                "Contact",
                "Id",
                contact.id,
                {key: customer_id, **(fields("Contact", False) if sync_fields else {})},
                refs=contact_refs,
                depends_on=deps,
                reason=f"link: {resolution.reason}",
            )
        )
        out.contact_ref = con_ref
        return out
    if kind == "domain_match":
        account = resolution.account
        assert account is not None
        link_account(account, f"link: {resolution.reason}")
        if customer is not None:
            new_contact("link_account", "new Contact under the matched Account")
        return out
    if kind == "create":
        if config.person_accounts:
            person_account(f"create: {resolution.reason} (a person account)")
            return out
        own_account(f"create: {resolution.reason}")
        if customer is not None:
            new_contact(out.account_op, f"create: Contact for {customer_id}")
        return out
    if kind == "review":
        _review_task(
            out,
            customer_id,
            ctx,
            config,
            subject=f"Review Stripe customer match for {customer_id}",
            description=(
                f"{resolution.reason}. Candidates: {', '.join(resolution.candidates)}. "
                f"Set {key} = {customer_id} on the right Contact and its Account."
            ),
            reason=resolution.reason,
        )
        out.notes.append(f"customer {customer_id} is in the review queue; nothing linked")
        return out
    if kind == "shared_email":
        if config.matching.create_missing and config.person_accounts:
            # its own person account, without the email another customer has
            person_account(f"shared email: {resolution.reason}", with_email=False)
        elif config.matching.create_missing:
            own_account(f"shared email: {resolution.reason}")
        other = resolution.other_customer
        contact_text = (
            f"Contact {resolution.contact.id}"
            if resolution.contact
            else f"the Contact with {key} = {other}"
        )
        _review_task(
            out,
            customer_id,
            ctx,
            config,
            subject=f"Review Stripe customer {customer_id}: its email belongs to {other}",
            description=(
                f"{resolution.reason}. {contact_text} stays with {other}; {customer_id} has "
                f"its own Account ({key} = {customer_id}) and no Contact. If both are one "
                f"person, nothing is needed; otherwise create or choose a Contact for "
                f"{customer_id} and set its {key} = {customer_id}."
            ),
            reason=resolution.reason,
        )
        out.notes.append(f"customer {customer_id}: {resolution.reason}")
        return out
    out.notes.append(resolution.reason)
    return out


def default_card_id(customer: CustomerView) -> str | None:
    return customer.default_payment_method_id or customer.default_source_id


def first_card(
    customer: CustomerView,
    customer_raw: dict[str, Any] | None,
    ctx: PlanContext,
    config: SyncConfig,
    out: CustomerWrites,
) -> dict[str, Any]:
    """The card fields of the customer's default card, for an Account being created or linked
    (nothing when the card is not mapped, the customer has none, or it is not a card)."""
    pm_id = default_card_id(customer)
    if not pm_id or not config.mappings_for("payment_method", "Account"):
        return {}
    raw = expanded_default_card(customer_raw or {})
    if raw is None or raw.get("id") != pm_id:
        raw = ctx.stripe(LookupKind.STRIPE_PAYMENT_METHOD, pm_id)
    if raw is None:
        if not ctx.has(LookupKind.STRIPE_PAYMENT_METHOD, pm_id):
            out.assumptions.append(f"default payment method {pm_id} not fetched; no card shown")
        return {}
    pm = payment_method_view(raw)
    if pm.type != "card" or not pm.card.last4:
        return {}
    return mapped_fields(
        config, "payment_method", "Account", payment_method_sources(pm), creating=False
    )


def _review_task(
    out: CustomerWrites,
    customer_id: str,
    ctx: PlanContext,
    config: SyncConfig,
    *,
    subject: str,
    description: str,
    reason: str,
) -> None:
    """A Task asking a person to decide about this customer's Contact (once: a Task that
    exists is left as the person keeps it)."""
    exists = ctx.review_task_exists(customer_id)
    if exists:
        out.notes.append(f"customer {customer_id} awaits review (Task exists)")
        return
    if exists is None:
        out.assumptions.append(f"no review Task exists for {customer_id} (lookup not done)")
    task_fields: dict[str, Any] = {
        "Subject": subject,
        "Description": description,
        "Priority": "Normal",
        "Status": "Not Started",
    }
    if config.matching.review_owner_id:
        task_fields["OwnerId"] = config.matching.review_owner_id
    out.operations.append(
        Operation(
            "review",
            "upsert",
            "Task",
            config.objects.dedupe_key_field,
            f"review:{customer_id}",
            task_fields,
            reason=reason,
        )
    )


def _contact_for_linked_account(
    out: CustomerWrites,
    customer_id: str,
    customer: CustomerView,
    ctx: PlanContext,
    config: SyncConfig,
    fields: Callable[[str, bool], dict[str, Any]],
    new_contact: Callable[[str | None, str], None],
) -> None:
    """The customer's Account is linked and no Contact is: take the Contact of its email if
    it is free, write none if another customer has the email, else create one."""
    if not (customer.email and config.matching.by_email):
        new_contact(None, "linked Account has no Contact yet")
        return
    email = normalize_email(customer.email)
    if not ctx.has(LookupKind.SF_CONTACTS_BY_EMAIL, email):
        out.assumptions.append(f"no Contact has email {email} (lookup not done)")
    owners = email_owners(customer_id, email, ctx)
    if owners.taken:
        out.notes.append(
            f"no Contact for {customer_id}: email {email} belongs to {owners.other_customer}"
        )
        return
    if not owners.free:
        new_contact(None, "linked Account has no Contact yet")
        return
    rule = config.matching.multiple_contacts
    free = list(owners.free)
    pick = free[0] if len(free) == 1 else choose(free, rule)
    if pick is None:
        out.notes.append(
            f"no Contact linked to {customer_id}: {len(free)} Contacts have email {email}"
        )
        return
    key = config.objects.customer_id_field
    out.operations.append(
        Operation(
            "link_contact",
            "update",
            "Contact",
            "Id",
            pick.id,
            {key: customer_id, **fields("Contact", False)},
            reason=f"link: Contact {pick.id} has email {email}; the linked Account had none",
        )
    )
    out.contact_id = pick.id
    out.contact_ref = RecordRef("Contact", key, customer_id)
