"""docs/mapping.md stays true: every TOML example in it is accepted, or refused with the
message its `# refused:` comment quotes; its source table is the allow-list, no more, no less;
it names every transform."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from stripe2sf.domain.allowlist import ALLOWED_SOURCES
from stripe2sf.domain.config import ConfigError, from_toml_text
from stripe2sf.domain.transforms import Transform

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```toml\n(.*?)```", TEXT, flags=re.S)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[0][:40] for b in BLOCKS])
def test_every_example_is_accepted_or_refused_as_it_says(block: str) -> None:
    refusals = re.findall(r"^# refused: (.+)$", block, flags=re.M)
    if not refusals:
        from_toml_text(block)
        return
    with pytest.raises(ConfigError) as caught:
        from_toml_text(block)
    problems = caught.value.problems
    assert len(problems) == len(refusals), problems
    for said in refusals:
        assert any(said in problem for problem in problems), (said, problems)


def test_the_source_table_is_the_allow_list() -> None:
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \| (\w+) \|", TEXT, flags=re.M)
    assert {source: kind for source, kind in listed} == {
        source: spec.kind for source, spec in ALLOWED_SOURCES.items()
    }


def test_every_transform_is_described() -> None:
    for transform in get_args(Transform):
        assert f"`{transform}`" in TEXT, transform
