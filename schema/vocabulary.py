"""The fixed vocabulary of the domain: enums whose values are the words desks use.

Ordered enums (urgency, classification, severity) compare by rank, not by string. Every enum
parses from its Chinese value, its English member name, and a few common aliases, and a bad
value raises :class:`ValidationError` listing what is allowed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from schema.error import ValidationError


class Vocabulary(StrEnum):
    """A StrEnum that parses forgivingly and explains a refusal in Chinese."""

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Extra spellings accepted by :meth:`parse`, mapped to a member value."""
        return {}

    @classmethod
    def parse(cls, text: object, field: str = "") -> Self:
        """Return the member named by ``text`` (Chinese value, English name or alias)."""
        if isinstance(text, cls):
            return text
        if not isinstance(text, str):
            raise ValidationError(field, f"应为文字，实际为 {type(text).__name__}")
        key = text.strip()
        for member in cls:
            if key == member.value or key.lower() == member.name.lower():
                return member
        alias = cls.aliases().get(key) or cls.aliases().get(key.lower())
        if alias is not None:
            return cls(alias)
        allowed = "、".join(m.value for m in cls)
        raise ValidationError(field, f"“{key}”不是有效值，可选：{allowed}")


class Ranked(Vocabulary):
    """A vocabulary whose members are ordered by their declaration order."""

    @property
    def rank(self) -> int:
        """Position in declaration order, lowest first."""
        return list(type(self)).index(self)

    def _cmp(self, other: object) -> int:
        if not isinstance(other, type(self)):
            return NotImplemented  # type: ignore[return-value]
        return self.rank - other.rank

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        return self._cmp(other) >= 0

    __hash__ = Vocabulary.__hash__


class Tier(Vocabulary):
    """Where a unit sits in the network."""

    CENTRAL = "中央"
    PROVINCE = "省"
    CITY = "市"
    COUNTY = "县"
    TOWNSHIP = "乡镇"
    DEPARTMENT = "部门"
    CORRESPONDENT = "特约"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "国办": "中央",
            "中办": "中央",
            "省级": "省",
            "市级": "市",
            "州": "市",
            "县级": "县",
            "区": "县",
            "县区": "县",
            "乡": "乡镇",
            "镇": "乡镇",
            "街道": "乡镇",
            "委办局": "部门",
            "特约信息员": "特约",
        }


class Category(Vocabulary):
    """What kind of information an item is."""

    NEWS = "工作动态"
    PRACTICE = "经验做法"
    PROBLEM = "问题建议"
    WARNING = "预警"
    RESEARCH = "调研"
    OPINION = "社情民意"
    SENTIMENT = "舆情"
    INCIDENT = "突发事件"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"动态": "工作动态", "经验": "经验做法", "问题": "问题建议", "紧急": "突发事件"}


class Urgency(Ranked):
    """紧急程度, lowest first; 特急 jumps every queue."""

    ROUTINE = "平急"
    URGENT = "加急"
    FLASH = "特急"


class Classification(Ranked):
    """密级, lowest first. 绝密 never enters the system (see :meth:`parse`)."""

    PUBLIC = "公开"
    INTERNAL = "内部"
    SECRET = "秘密"
    CONFIDENTIAL = "机密"

    @classmethod
    def parse(cls, text: object, field: str = "") -> Classification:
        """Parse a classification, refusing 绝密 with its own message."""
        if isinstance(text, str) and text.strip() in ("绝密", "top-secret", "TOP SECRET"):
            raise ValidationError(field, "绝密信息不得进入本系统，请按保密规定另行报送")
        return super().parse(text, field)


class Severity(Ranked):
    """Incident severity (Ⅳ 一般 … Ⅰ 特别重大), lowest first."""

    MINOR = "一般"
    SERIOUS = "较大"
    MAJOR = "重大"
    EXTREME = "特别重大"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"Ⅳ": "一般", "Ⅲ": "较大", "Ⅱ": "重大", "Ⅰ": "特别重大", "特大": "特别重大"}


class Role(Vocabulary):
    """What a person may do at a desk."""

    WRITER = "信息员"
    EDITOR = "编辑"
    REVIEWER = "审核人"
    SIGNER = "签发人"
    ADMIN = "管理员"


class EdgeState(Vocabulary):
    """The state of one edge (item, from unit, to unit); each tier decides on its own."""

    DRAFT = "草稿"
    AWAITING_SIGNOFF = "待签发"
    SENT = "已报送"
    RECEIVED = "已接收"
    RETURNED = "退回修改"
    REJECTED = "退稿"
    RESERVED = "备用"
    MERGED = "已合并"
    ADOPTED = "已采用"
    PLACED = "已成刊"
    ISSUED = "已印发"
    FORWARDED = "已转报"
    INSTRUCTED = "已批示"
    FEEDBACK = "反馈中"
    CLOSED = "已办结"


class Level(Vocabulary):
    """The tier of the office that adopted an item or whose leader wrote an instruction."""

    COUNTY = "县级"
    CITY = "市级"
    PROVINCE = "省级"
    CENTRAL = "中央"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "县": "县级",
            "区": "县级",
            "市": "市级",
            "省": "省级",
            "国办": "中央",
            "中办": "中央",
            "中央级": "中央",
            "国家级": "中央",
            "国务院": "中央",
        }
