from __future__ import annotations

import pytest

from schema.error import ValidationError
from schema.vocabulary import Category, Classification, Severity, Tier, Urgency


def test_urgency_and_classification_are_ordered_by_rank_not_by_string() -> None:
    assert Urgency.ROUTINE < Urgency.URGENT < Urgency.FLASH
    assert max([Urgency.URGENT, Urgency.FLASH, Urgency.ROUTINE]) is Urgency.FLASH
    assert Classification.PUBLIC < Classification.INTERNAL < Classification.SECRET
    assert max(Classification.SECRET, Classification.CONFIDENTIAL) is Classification.CONFIDENTIAL
    assert Severity.MINOR < Severity.EXTREME


def test_values_are_the_words_desks_use() -> None:
    assert [u.value for u in Urgency] == ["平急", "加急", "特急"]
    assert [c.value for c in Classification] == ["公开", "内部", "秘密", "机密"]
    assert len(Category) == 8 and Category.INCIDENT == "突发事件"


@pytest.mark.parametrize(
    ("text", "tier"),
    [("city", Tier.CITY), ("市", Tier.CITY), ("县级", Tier.COUNTY), ("Province", Tier.PROVINCE)],
)
def test_tier_parses_english_and_chinese(text: str, tier: Tier) -> None:
    assert Tier.parse(text) is tier


def test_top_secret_is_refused_outright() -> None:
    with pytest.raises(ValidationError, match="绝密") as info:
        Classification.parse("绝密", "classification")
    assert info.value.field == "classification"


def test_unknown_value_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match="平急、加急、特急"):
        Urgency.parse("十万火急", "urgency")
