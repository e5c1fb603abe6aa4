"""Item files (DESIGN.md §4): TOML or JSON written by a desk, validated into an ItemDraft.

Every problem names its field; nothing is stored until the whole file is valid.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from schema.attachment import SHA256, Attachments
from schema.clock import CHINA, from_text, to_text
from schema.error import ValidationError, reason
from schema.limit import (
    InputLimits,
    check_document,
    read_bounded,
    scan_json,
    scan_toml,
    shipped_limits,
    shown_name,
)
from schema.record import Attachment, Incident, ItemDraft
from schema.vocabulary import Category, Classification, Severity, Urgency

UNIT_ID = re.compile(r"^\d{6}(\d{3})?(-[a-z][a-z0-9]*)?$")

ITEM_KEYS = {
    "title",
    "category",
    "urgency",
    "classification",
    "author",
    "phone",
    "body",
    "to",
    "request",
    "incident",
    "attachments",
    "themes",
    "section",
}
INCIDENT_REQUIRED = ("severity", "occurred_at", "place")
# the optional incident fields, in the order a 突发事件 report gives them
INCIDENT_OPTIONAL = (
    "type",
    "learned_at",
    "casualties",
    "loss",
    "cause",
    "measures",
    "leaders_on_site",
    "report",
    "thread",
)
INCIDENT_KEYS = {*INCIDENT_REQUIRED, *INCIDENT_OPTIONAL}
# Stand-ins put in place of a refused value so that parsing goes on to the next field: the
# parser stops at its first problem, the desk wants to see every one at once. They are never
# kept: a draft is made only when no stand-in was needed.
STAND_INS: dict[str, Any] = {
    "title": "标题",
    "body": "正文",
    "author": "执笔人",
    "phone": "",
    "urgency": Urgency.ROUTINE.value,
    "classification": Classification.INTERNAL.value,
    "themes": [],
    "request": "",
    "section": "",
    "to": [],
    "attachments": [],
    "incident.severity": Severity.MINOR.value,
    "incident.occurred_at": "2000-01-01T00:00:00+08:00",
    "incident.place": "地点",
}


class ItemProblems(ValidationError):
    """Every problem of an item at once, in one line (``；`` between them); ``field`` and
    ``reason`` are the first's (one problem reads exactly as a :class:`ValidationError`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        field, message = problems[0]
        super().__init__(field, message)
        self.problems = problems
        if len(problems) > 1:
            each = (f"字段 {f}：{m}" if f else m for f, m in problems)
            self.message = f"共 {len(problems)} 处问题：" + "；".join(each)


def every_problem(data: Mapping[str, Any]) -> tuple[ItemDraft | None, list[tuple[str, str]]]:
    """Every problem :func:`parse_item` finds in ``data`` (field, reason), in the order the
    parser meets them: each refused field is given a stand-in (an unknown one is left out)
    and the parse repeated. With them the draft made of the stand-ins, for further checks
    only (never to be kept), or None when a problem has no stand-in."""
    trial: dict[str, Any] = dict(data)
    if isinstance(trial.get("incident"), Mapping):
        trial["incident"] = dict(trial["incident"])
    problems: list[tuple[str, str]] = []
    for _ in range(len(ITEM_KEYS) + len(INCIDENT_KEYS) + len(data) + 4):
        try:
            draft = parse_item(trial)
        except ValidationError as exc:
            problems.append((exc.field, exc.reason))
            if not _stand_in(trial, exc.field):
                break
        else:
            return draft, problems
    return None, problems


def _stand_in(data: dict[str, Any], field: str) -> bool:
    """Put a stand-in for ``field`` into ``data``; False when there is none."""
    inner = field.removeprefix("incident.")
    incident = data.get("incident")
    if field == "category":
        data["category"] = Category.INCIDENT.value if "incident" in data else Category.NEWS.value
        return True
    if field in STAND_INS:
        if field != inner and isinstance(incident, dict):
            incident[inner] = STAND_INS[field]
        elif field == inner:
            data[field] = STAND_INS[field]
        else:
            return False
        return True
    if field != inner and isinstance(incident, dict) and inner in incident:
        del incident[inner]  # an optional or unknown incident field
        return True
    if field == inner and field in data and field not in ITEM_KEYS:
        del data[field]  # an unknown field
        return True
    return False


def parse_all(data: Mapping[str, Any]) -> ItemDraft:
    """:func:`parse_item`, refusing with every problem at once (:class:`ItemProblems`)."""
    draft, problems = every_problem(data)
    if problems or draft is None:
        raise ItemProblems(problems)
    return draft


def read_item_file(path: Path, attachments: Attachments | None = None) -> ItemDraft:
    """Read and validate an item file; TOML unless its name ends in ``.json``.

    ``attachments = ["现场照片.jpg"]`` names files relative to the item file; once the rest
    of the file is valid they are copied into ``attachments`` (the node's folder) and the
    draft refers to them by hash.
    """
    data = load_mapping(path, "信息文件")
    files = data.get("attachments")
    if not isinstance(files, list) or not any(isinstance(f, str) for f in files):
        return parse_all(data)
    parse_all({**data, "attachments": []})  # everything else first: nothing copied in vain
    if attachments is None:
        raise ValidationError("attachments", "此处不能添加附件文件")
    _attachments([f for f in files if not isinstance(f, str)])  # every entry checked first
    for entry in files:
        if isinstance(entry, str) and not (path.parent / entry).is_file():
            raise ValidationError("attachments", f"找不到附件文件 {entry}")
    entries = [
        asdict(attachments.add_file(path.parent / f)) if isinstance(f, str) else f for f in files
    ]
    return parse_item({**data, "attachments": entries})


def load_mapping(path: Path, what: str, limits: InputLimits | None = None) -> dict[str, Any]:
    """The top-level table of a desk's TOML file (JSON when the name ends in ``.json``), within
    the desk input limits (:mod:`schema.limit`): its size, shape and every text checked."""
    limits = limits or shipped_limits()
    data = read_document(path, what, limits)
    check_document(data, limits)
    return data


def read_document(
    path: Path, what: str, limits: InputLimits | None = None, *, by_name: bool = True
) -> dict[str, Any]:
    """The top-level table of a TOML file (JSON when ``by_name`` and the name ends in
    ``.json``), refused — one line naming the file — when it is larger, deeper or holds more
    keys than the limits allow. Its size is known before it is read, its shape before it is
    parsed; its texts are left to the caller (a rule file's are not an item's)."""
    limits = limits or shipped_limits()
    shown = shown_name(path)
    raw = read_bounded(path, limits)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("", f"文件 {shown} 不是 UTF-8 编码") from exc
    is_json = by_name and path.suffix.lower() == ".json"
    kind = "JSON" if is_json else "TOML"
    (scan_json if is_json else scan_toml)(text, shown, limits)
    try:
        data = json.loads(text) if is_json else tomllib.loads(text)
    except RecursionError as exc:  # the scan keeps parsers well short of it; never a traceback
        raise ValidationError("", f"{shown}：嵌套过深（超过 {limits.max_depth} 层）") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError("", f"不是有效的 JSON（{reason(exc)}）") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("", f"不是有效的 TOML（{reason(exc)}）") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ValidationError("", f"不是有效的 {kind}（数字位数过多）") from exc
    if not isinstance(data, dict):
        raise ValidationError("", f"{what}的顶层应为键值表")
    check_document(data, limits, texts=False, shown=shown)
    return data


def parse_item(
    data: Mapping[str, Any], *, limits: InputLimits | None = None, trusted: bool = False
) -> ItemDraft:
    """Validate a mapping with the item-file keys into an :class:`ItemDraft`.

    Its shape and every text are held to the desk input limits first (:mod:`schema.limit`):
    a file's, a form's and an item received from another node (``schema.inbound``) alike.
    ``trusted`` skips that for what this node's store already holds: it was checked when it
    came in, and must stay readable when an office lowers a limit.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("", f"信息内容应为键值表，实际为 {type_name(data)}")
    if not trusted:
        check_document(data, limits)
    unknown = sorted(set(data) - ITEM_KEYS)
    if unknown:
        raise ValidationError(
            unknown[0], "未知字段（可用字段：" + "、".join(sorted(ITEM_KEYS)) + "）"
        )
    category = Category.parse(required_field(data, "category"), "category")
    incident_data = data.get("incident")
    incident = None
    if category is Category.INCIDENT:
        if incident_data is None:
            raise ValidationError(
                "incident", "突发事件须填写 [incident]（severity、occurred_at、place）"
            )
        incident = _parse_incident(incident_data)
    elif incident_data is not None:
        raise ValidationError("incident", f"只有“突发事件”类信息才填写，本条类别为“{category}”")
    return ItemDraft(
        title=text_field(data, "title", required=True),
        category=category,
        body=text_field(data, "body", required=True),
        author=text_field(data, "author", required=True),
        urgency=Urgency.parse(data.get("urgency", Urgency.ROUTINE.value), "urgency"),
        classification=Classification.parse(
            data.get("classification", Classification.INTERNAL.value), "classification"
        ),
        phone=text_field(data, "phone"),
        to=unit_list(data.get("to", []), "to"),
        request=text_field(data, "request"),
        incident=incident,
        attachments=_attachments(data.get("attachments", [])),
        themes=_themes(data.get("themes", [])),
        section=text_field(data, "section"),
    )


_DRAFT_FIELDS = tuple(f.name for f in fields(ItemDraft))


def draft_to_dict(draft: ItemDraft) -> dict[str, Any]:
    """The item-file mapping of a draft, JSON-ready (enums as their Chinese values)."""
    # the fields read one level deep (asdict copied the whole tree, the incident and the
    # attachments only to have them replaced below: a third of applying a received item)
    out: dict[str, Any] = {
        k: v for k in _DRAFT_FIELDS if k != "incident" and (v := getattr(draft, k)) not in ("", ())
    }
    out["to"] = list(draft.to)
    for key in ("category", "urgency", "classification"):
        out[key] = str(getattr(draft, key))
    if draft.incident is not None:
        inc = {k: v for k, v in asdict(draft.incident).items() if v not in ("", None)}
        inc["severity"] = str(draft.incident.severity)
        inc["occurred_at"] = to_text(draft.incident.occurred_at)
        if draft.incident.learned_at is not None:
            inc["learned_at"] = to_text(draft.incident.learned_at)
        out["incident"] = inc
    if not out["to"]:
        del out["to"]
    if draft.attachments:
        out["attachments"] = [asdict(a) for a in draft.attachments]
    return out


def _themes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError("themes", "应为报送要点主题的列表")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _attachments(value: object) -> tuple[Attachment, ...]:
    if not isinstance(value, list):
        raise ValidationError("attachments", f"应为附件列表，实际为 {type_name(value)}")
    found: list[Attachment] = []
    for entry in value:
        if not isinstance(entry, Mapping) or set(entry) != {"name", "sha256", "size"}:
            raise ValidationError("attachments", "每个附件应为文件名（或 name、sha256、size）")
        name, sha256, size = entry["name"], entry["sha256"], entry["size"]
        ok = (
            isinstance(name, str)
            and name.strip()
            and "/" not in name
            and isinstance(sha256, str)
            and SHA256.match(sha256)
            and isinstance(size, int)
            and not isinstance(size, bool)
            and size >= 0
        )
        if not ok:
            raise ValidationError("attachments", f"附件信息无效：{name}")
        found.append(Attachment(name=name.strip(), sha256=sha256, size=size))
    return tuple(found)


def _parse_incident(data: object) -> Incident:
    if not isinstance(data, Mapping):
        raise ValidationError("incident", "应为键值表 [incident]")
    unknown = sorted(set(data) - INCIDENT_KEYS)
    if unknown:
        raise ValidationError(f"incident.{unknown[0]}", "未知字段")
    for key in INCIDENT_REQUIRED:
        if data.get(key) in (None, ""):
            raise ValidationError(f"incident.{key}", "突发事件必须填写")
    learned = data.get("learned_at")
    return Incident(
        severity=Severity.parse(data["severity"], "incident.severity"),
        occurred_at=time_field(data["occurred_at"], "incident.occurred_at"),
        place=text_field(data, "place", prefix="incident.", required=True),
        type=text_field(data, "type", prefix="incident."),
        learned_at=None if learned in (None, "") else time_field(learned, "incident.learned_at"),
        casualties=text_field(data, "casualties", prefix="incident."),
        loss=text_field(data, "loss", prefix="incident."),
        cause=text_field(data, "cause", prefix="incident."),
        measures=text_field(data, "measures", prefix="incident."),
        leaders_on_site=text_field(data, "leaders_on_site", prefix="incident."),
        report=text_field(data, "report", prefix="incident.") or "首报",
        thread=text_field(data, "thread", prefix="incident."),
    )


def required_field(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(key, "必须填写")
    return value


def text_field(
    data: Mapping[str, Any], key: str, *, prefix: str = "", required: bool = False
) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise ValidationError(prefix + key, "必须填写")
        return ""
    if not isinstance(value, str):
        raise ValidationError(prefix + key, f"应为文字，实际为 {type_name(value)}")
    # A CRLF (from a Windows editor or clipboard) passes the input checks only in a multi-line
    # field, and is kept as the line break it means.
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise ValidationError(prefix + key, "不能为空")
    return value


def time_field(value: object, field: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA)
    if isinstance(value, date):
        raise ValidationError(field, "应为日期加时间，例如 2026-11-21T14:35:00+08:00")
    if not isinstance(value, str):
        raise ValidationError(field, f"应为时间，实际为 {type_name(value)}")
    try:
        return from_text(value.strip())
    except ValueError as exc:
        raise ValidationError(
            field, f"“{value}”不是有效时间，例如 2026-11-21T14:35:00+08:00"
        ) from exc


def unit_list(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValidationError(field, f"应为单位代码列表，实际为 {type_name(value)}")
    units: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not UNIT_ID.match(entry.strip()):
            raise ValidationError(field, f"“{entry}”不是有效的单位代码（如 140200 或 140200-fgw）")
        if entry.strip() not in units:
            units.append(entry.strip())
    return tuple(units)


def type_name(value: object) -> str:
    names = {bool: "真假值", int: "整数", float: "小数", list: "列表", dict: "键值表"}
    return names.get(type(value), type(value).__name__)
