"""How the desk CLI prints topic requests: the list, one request, the completion matrix."""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Any

from console.text import fit
from schema import request as requests
from schema.clock import CHINA
from schema.network import find_unit
from schema.store import Store


def when(at: datetime | None) -> str:
    """A time as desks write it: 11月22日 18:00."""
    if at is None:
        return "—"
    local = at.astimezone(CHINA)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def countdown(deadline: datetime, now: datetime) -> str:
    """What is left until ``deadline`` (or how long it has passed)."""
    seconds = int((deadline - now).total_seconds())
    span = abs(seconds)
    days, hours, minutes = span // 86400, span % 86400 // 3600, span % 3600 // 60
    text = (
        f"{days}天{hours}小时" if days else f"{hours}小时{minutes}分" if hours else f"{minutes}分"
    )
    return f"剩{text}" if seconds >= 0 else f"已过{text}"


def label(store: Store, unit_id: str) -> str:
    unit = find_unit(store, unit_id)
    return unit.label if unit else unit_id


def print_listing(store: Store, rows: list[dict[str, Any]], now: datetime) -> None:
    if not rows:
        print("（没有约稿或报送要点）")
        return
    width = shutil.get_terminal_size((80, 24)).columns
    topic_width = max(10, width - 24 - 16 - 14 - 2)
    print(f"{fit('编号', 24)}{fit('文号', 16)}{fit('情况', 14)}主题")
    for r in rows:
        if "targets" in r:
            state = f"已答{r['answered']}/{r['targets']}" if r["state"] == "已下发" else r["state"]
        elif "own" in r:
            own: requests.TargetStatus = r["own"]
            if r["kind"] in requests.WORDED:
                state = "已反馈" if own.answered_at else countdown(r["deadline"], now)
            elif r["kind"] != requests.TOPIC:
                state = "报送要点"
            elif own.zero_report:
                state = "已零报告"
            elif own.answered_at:
                state = "已答复"
            else:
                state = countdown(r["deadline"], now)
        else:
            state = r["state"]
        print(
            f"{fit(r['id'], 24)}{fit(r['number'], 16)}{fit(state, 14)}"
            f"{fit(r['topic'], topic_width).rstrip()}"
        )


def print_request(store: Store, request: requests.Request, me: str, now: datetime) -> None:
    draft = request.draft
    print(f"{request.classification}　{draft.urgency}　{draft.kind}")
    print(f"{label(store, request.issuer)}　{request.number}")
    print(draft.topic)
    print()
    print(draft.guidance)
    print()
    if draft.themes:
        print("报送要点：")
        for n, theme in enumerate(draft.themes, 1):
            print(f"  {n}. {theme}")
    print(f"截止 {when(draft.deadline)}（{countdown(draft.deadline, now)}）")
    if draft.publication:
        print(f"拟用刊物 {draft.publication}")
    if draft.points or draft.penalty:
        print(f"计分 采用加{draft.points}分　未报扣{abs(draft.penalty)}分")
    if draft.contact:
        print(f"联系人 {draft.contact}")
    if request.signer:
        print(f"签发 {request.signer}　{when(request.signed_at)}")
    print(f"状态 {request.state}")
    if request.issuer == me and request.state is requests.RequestState.ISSUED:
        print()
        print_matrix(store, requests.matrix(store, request.id, now))
        from schema import supervise  # the 通报 code loads only where a 督办 is shown

        for talk in supervise.interviews(store):
            if talk.request_id == request.id:
                print(f"约谈 {label(store, talk.unit)}　{when(talk.at)}　{talk.actor}：{talk.note}")


def print_matrix(store: Store, statuses: list[requests.TargetStatus]) -> None:
    print(f"{fit('单位', 14)}{fit('已读', 14)}{fit('答复', 24)}结果")
    for s in statuses:
        if s.zero_report:
            answer = f"零报告 {when(s.answered_at)}"
        elif s.replies:
            answer = f"{len(s.replies)}条 {when(s.answered_at)}"
        elif s.answered_at:
            answer = f"已反馈 {when(s.answered_at)}"
        else:
            answer = "—"
        print(
            f"{fit(label(store, s.unit), 14)}{fit(when(s.read_at), 14)}{fit(answer, 24)}{s.outcome}"
        )
        if s.note and not s.zero_report:
            print(f"  {s.note}")
    done = sum(1 for s in statuses if s.outcome is requests.Outcome.ON_TIME)
    print(f"共 {len(statuses)} 个单位，按时 {done}")


def print_due(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("（没有到期的跟踪约稿）")
    for f in rows:
        print(f"{f['request_id']}　{f['number']}　{f['label']}跟踪　{f['due']} 到期")
