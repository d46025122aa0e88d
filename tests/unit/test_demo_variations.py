"""`stripe2sf demo --org`: the variations named, and what each asks of the sandbox, the admin and
stripe2sf's configuration (pure; the demo run itself is in tests/acceptance/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stripe2sf.demo.org_rules import ORG_RULES
from stripe2sf.demo.run import write_config
from stripe2sf.demo.variations import OrgPlan, parse_variations, plan_org
from stripe2sf.domain.setup.metadata import generate_metadata


def test_variations_are_read_comma_separated_or_repeated_in_one_order() -> None:
    assert parse_variations(["rules,person-accounts", " Multi-Currency "]) == (
        "person-accounts",
        "multi-currency",
        "rules",
    )
    assert parse_variations([]) == ()


def test_an_unknown_variation_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown org variation person; choose among "):
        parse_variations(["person,rules"])


def test_without_variations_the_demo_is_the_plain_one(tmp_path: Path) -> None:
    assert plan_org(()) == OrgPlan()
    assert write_config(tmp_path, plan_org(())) == (None, None)
    assert not (tmp_path / "stripe2sf.toml").exists()


def test_person_accounts_run_stripe2sf_as_person_and_grant_the_record_type(
    tmp_path: Path,
) -> None:
    plan = plan_org(("person-accounts",))
    assert plan.sandbox_args == ("--features", "person-accounts")
    assert not plan.standard_duplicate_rules and not plan.admin_metadata
    path, config = write_config(tmp_path, plan)
    assert path == tmp_path / "stripe2sf.toml" and config is not None
    assert config.org.account_model == "person"
    permission_set = next(
        text for name, text in generate_metadata(config).items() if "permissionset" in name
    )
    assert "<recordType>PersonAccount.PersonAccount</recordType>" in permission_set


def test_multi_currency_activates_eur_gbp_and_jpy_beside_usd(tmp_path: Path) -> None:
    plan = plan_org(("multi-currency",))
    args = plan.sandbox_args
    assert args[args.index("--features") + 1] == "multi-currency"
    assert args[args.index("--corporate-currency") + 1] == "USD"
    assert args[args.index("--currencies") + 1].split(",") == ["USD", "EUR", "GBP", "JPY"]
    _, config = write_config(tmp_path, plan)
    assert config is not None and config.org.multi_currency == "auto"
    assert config.org.account_model == "auto"


def test_rules_turn_on_the_standard_duplicate_rules_and_deploy_the_admins_rules(
    tmp_path: Path,
) -> None:
    plan = plan_org(parse_variations(["person-accounts,multi-currency,rules"]))
    assert plan.standard_duplicate_rules
    assert plan.admin_metadata == ORG_RULES
    assert plan.sandbox_args[:2] == ("--features", "person-accounts,multi-currency")
    _, config = write_config(tmp_path, plan)
    assert config is not None and config.matching.on_duplicate == "link"
    assert plan.label == "person-accounts, multi-currency, rules"
