"""The desk's decisions on items, shared by the inbox (marked rows) and the item view: each
asks what it needs (a reason, a confirmation), runs the schema operation per item, and says
what was done and what was refused."""

from __future__ import annotations

from collections.abc import Callable

from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Confirm
from schema import desk as ops
from schema import verify
from schema.desk import Desk
from schema.error import XinbaoError

NAMES = {
    "adopt": "采用",
    "return": "退回",
    "reserve": "存稿备用",
    "reject": "退稿",
    "forward": "转报",
    "signoff": "签发",
    "verify": "处理核实",
}
CONFIRM = {"reject": "确定退稿 {n} 条信息？", "signoff": "确定签发 {n} 条信息？签发后即排队报送。"}


def _call(desk: Desk, what: str, item_id: str, reason: str) -> str:
    """One decision; returns the id of a new item (a forward), else ''."""
    if what == "adopt":
        ops.adopt(desk, item_id)
    elif what == "return":
        ops.return_item(desk, item_id, reason)
    elif what == "reserve":
        ops.reserve(desk, item_id)
    elif what == "reject":
        ops.reject(desk, item_id, reason)
    elif what == "forward":
        return ops.forward(desk, item_id).id
    elif what == "signoff":
        ops.signoff(desk, item_id)
    elif what == "verify" and verify.open_for(desk.store, desk.node.id, item_id):
        ops.answer_verification(desk, item_id, reason)
    elif what == "verify":
        ops.ask_to_verify(desk, item_id, reason)
    return ""


def triage(screen: DeskScreen, item_ids: list[str], what: str, after: Callable[[], None]) -> None:
    """Decide ``what`` on ``item_ids``, asking first where the decision needs it; ``after``
    runs once it is done (to read the screen again)."""
    if not item_ids:
        return

    def run(reason: str) -> None:
        done, made, failed = 0, [], []
        for item_id in item_ids:
            try:
                new = _call(screen.desk, what, item_id, reason)
            except XinbaoError as exc:
                failed.append(f"{item_id}：{exc.message}")
                continue
            done += 1
            made += [new] if new else []
        after()
        if done:
            extra = f"，新稿 {'、'.join(made[:3])} 待签发" if made else ""
            screen.notify(f"已{NAMES[what]} {done} 条{extra}")
        if failed:
            screen.notify("\n".join(failed[:5]), title="未能处理", severity="error", timeout=10)

    count = len(item_ids)
    asked = verify.open_for(screen.desk.store, screen.desk.node.id, item_ids[0])
    if what == "verify" and asked is not None:  # the source answers the question asked of it
        screen.app.push_screen(
            AskText(f"答复核实（{asked.question}）：", required="答复须写明核实结果"),
            lambda text: run(text) if text and text.strip() else None,
        )
    elif what == "verify":
        hours = screen.desk.rules.verify_hours
        screen.app.push_screen(
            AskText(
                f"要求来源单位核实 {count} 条信息（{hours:g} 小时内答复），要核实的内容：",
                required="核实要求须写明要核实的内容",
            ),
            lambda text: run(text) if text and text.strip() else None,
        )
    elif what == "return":
        screen.app.push_screen(
            AskText(f"退回 {count} 条信息，理由：", required="退回必须写明理由"),
            lambda reason: run(reason) if reason and reason.strip() else None,
        )
    elif what in CONFIRM:
        screen.app.push_screen(
            Confirm(CONFIRM[what].format(n=count)), lambda yes: run("") if yes else None
        )
    else:
        run("")


def merge(screen: DeskScreen, item_ids: list[str], after: Callable[[], None]) -> None:
    """Merge the items into one composite of this node (化零为整), asking its title."""
    if len(item_ids) < 2:
        screen.notify("合并至少需要两条信息：先用空格标记", severity="warning")
        return

    def run(title: str | None) -> None:
        if not title or not title.strip():
            return
        try:
            new = ops.merge(screen.desk, item_ids, title)
        except XinbaoError as exc:
            screen.notify(exc.message, title="未能合并", severity="error", timeout=10)
            return
        after()
        screen.notify(f"已将 {len(item_ids)} 条合并为 {new.id}，待签发")

    ask = AskText(f"合并 {len(item_ids)} 条信息，新标题：", required="合并后的信息须有标题")
    screen.app.push_screen(ask, run)
