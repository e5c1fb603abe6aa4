"""``xinbao``: the desk from the command line (DESIGN.md §4). Parses the arguments here and runs
the command in :mod:`console.commands`, imported only then: ``--help`` and a usage error need no
store, schema or document code, so they answer at once."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from schema.commandline import Parser, global_options, run

PROG = "xinbao"


def build_parser() -> Parser:
    """The argument parser of ``xinbao``."""
    opts = global_options(top=False)
    parser = Parser(
        prog=PROG, description="信报工作台（命令行）", parents=[global_options(top=True)]
    )
    # who acts over SSH: written into each key's forced command by ``xinbao-syncd user``,
    # honoured by ``ssh`` alone; everywhere else the actor is the OS account running this
    parser.add_argument("--as", dest="as_user", metavar="NAME", help="SSH 登录人员（仅 ssh）")
    parser.add_argument("--key", default="", metavar="指纹", help="登录密钥指纹（仅 ssh）")
    cmds = parser.add_subparsers(dest="command", required=True, metavar="命令")

    p = cmds.add_parser("submit", parents=[opts], help="从 TOML/JSON 文件提交一条信息，待签发")
    p.add_argument("file", type=Path, help="信息文件")
    p = cmds.add_parser("edit", parents=[opts], help="修改本单位未报送或被退回的信息（新稿）")
    p.add_argument("id")
    p.add_argument("file", type=Path, help="修改后的信息文件")
    p = cmds.add_parser("signoff", parents=[opts], help="签发信息或约稿，排队发出")
    p.add_argument("id")

    p = cmds.add_parser(
        "request",
        parents=[opts],
        help="从文件起草约稿或报送要点，待签发；request export ID 导出约稿通知",
        usage="xinbao request FILE | xinbao request export ID [--format {md,docx}] [--out F]",
    )
    p.add_argument("file", help="约稿文件；或 export（导出约稿通知）")
    p.add_argument("id", nargs="?", help="导出的约稿编号（export 时）")
    p.add_argument("--format", choices=["md", "docx"], default="md", help="导出格式")
    p.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    p = cmds.add_parser("requests", parents=[opts], help="列出约稿与报送要点（收到的和发出的）")
    p.add_argument("--due", action="store_true", help="只列出到期待发的跟踪约稿")
    p = cmds.add_parser("zero-report", parents=[opts], help="对约稿作零报告")
    p.add_argument("id")
    p.add_argument("--note", default="", help="说明")
    p = cmds.add_parser("follow-up", parents=[opts], help="起草到期的跟踪约稿（待签发）")
    p.add_argument("id")

    p = cmds.add_parser("issue", parents=[opts], help="刊物期次：编辑、排序、签发、导出")
    acts = p.add_subparsers(dest="action", required=True, metavar="操作")
    q = acts.add_parser("list", parents=[opts], help="列出刊物与各期")
    q = acts.add_parser("add", parents=[opts], help="把已采用的信息编入一期（如 每日要情/3）")
    q.add_argument("ref", help="刊物/期号；只写刊物名为正在编辑的一期")
    q.add_argument("ids", nargs="+", metavar="ID")
    q = acts.add_parser("remove", parents=[opts], help="把信息撤出正在编辑的一期")
    q.add_argument("ref")
    q.add_argument("id")
    q = acts.add_parser("order", parents=[opts], help="调整顺序：所列信息依次排在最前")
    q.add_argument("ref")
    q.add_argument("ids", nargs="+", metavar="ID")
    q = acts.add_parser("show", parents=[opts], help="查看一期")
    q.add_argument("ref")
    q = acts.add_parser(
        "signoff", parents=[opts], help="签发一期（已印发），并报上级、告知来源单位"
    )
    q.add_argument("ref")
    q = acts.add_parser("export", parents=[opts], help="导出一期为 Markdown 或 Word（.docx）")
    q.add_argument("ref")
    q.add_argument("--format", choices=["md", "docx", "xlsx"], default="md")
    q.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    q.add_argument("--copy", type=int, help="份号（缺省为本期第一份）")
    p = cmds.add_parser("publication", parents=[opts], help="增加本单位的刊物（如 特刊）")
    p.add_argument("name")
    p.add_argument("--copies", type=int, default=30, help="每期印数")
    p.add_argument(
        "--to",
        default="上级",
        help="印发后发往（逗号分隔）：上级、下级、同级、所辖县（所辖各县）或单位代码",
    )

    p = cmds.add_parser("list", parents=[opts], help="列出收件或发件")
    box = p.add_mutually_exclusive_group()
    box.add_argument("--inbox", action="store_true", help="收件（默认）")
    box.add_argument("--outbox", action="store_true", help="发件")
    box.add_argument(
        "--overdue", action="store_true", help="突发事件报告时限：超时、即将超时和待报的首报"
    )
    p.add_argument("--search", default="", metavar="TEXT", help="全文检索（一个字以上）")
    p.add_argument("--limit", type=int, default=50, help="最多列出几条")
    p = cmds.add_parser("instruct", parents=[opts], help="登记领导批示（信息或刊物期次）")
    p.add_argument("subject", metavar="ID", help="信息编号或刊物期次（如 专报/3）")
    p.add_argument("--leader", required=True, help="批示领导，如 省长王某某")
    p.add_argument("--level", required=True, help="中央、省级、市级或县级")
    p.add_argument("--text", required=True, help="批示内容")
    p.add_argument("--feedback", action="store_true", help="要求反馈")
    p.add_argument("--deadline", default="", help="反馈时限，如 2026-12-05T18:00:00+08:00")
    p.add_argument("--assign", nargs="*", default=[], metavar="UNIT", help="责任单位")
    p = cmds.add_parser("feedback", parents=[opts], help="对批示反馈落实情况")
    p.add_argument("id", help="批示反馈的编号（见 xinbao requests）")
    p.add_argument("--text", required=True)
    p = cmds.add_parser(
        "bulletin", parents=[opts], help="生成通报：得分排名、采用、批示、任务完成等"
    )
    p.add_argument("--period", required=True, help="月（2026-11）、季（2026-Q4）或年（2026）")
    p.add_argument(
        "--format",
        choices=["md", "docx", "xlsx"],
        default="md",
        help="格式：md、docx（通报）或 xlsx（表格）",
    )
    p.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    p.add_argument(
        "--rules", default="", help="计分办法：datong-city、shanxi-province、county-office 或文件"
    )
    p.add_argument(
        "--signoff",
        action="store_true",
        help="签发：编号后发往通报点到的各单位，并向未完成任务的单位发出督办",
    )
    p.add_argument(
        "--by",
        choices=["unit", "person", "section"],
        default="unit",
        help="按单位（缺省）、按执笔人（先进个人）或按本单位科室排名",
    )
    p = cmds.add_parser("bulletins", parents=[opts], help="已签发和收到的通报")
    p.add_argument("action", nargs="?", choices=["show"], help="show：查看一份通报")
    p.add_argument("id", nargs="?", help="通报编号")
    p = cmds.add_parser("interview", parents=[opts], help="记录约谈（督办后约谈单位负责人）")
    p.add_argument("unit", nargs="?", help="被约谈单位代码（缺省列出已记录的约谈）")
    p.add_argument("--note", default="", help="约谈对象和情况")
    p.add_argument("--request", default="", help="所依据的督办编号")
    p = cmds.add_parser("section", parents=[opts], help="本单位的科室及每月报送任务")
    p.add_argument("action", nargs="?", choices=["add", "remove"], help="add 增加、remove 删除")
    p.add_argument("name", nargs="?", help="科室名称")
    p.add_argument("--per-month", type=int, default=0, help="每月报送任务（条）")
    p = cmds.add_parser("similar", parents=[opts], help="列出近期收到的疑似重复信息（可合并）")
    p = cmds.add_parser("mark", parents=[opts], help="对某单位记录迟报、漏报、瞒报或误报")
    p.add_argument("unit", help="单位代码")
    p.add_argument("--kind", required=True, help="迟报、漏报、瞒报或误报")
    p.add_argument("--item", default="", help="相关信息编号")
    p.add_argument("--note", required=True, help="情况说明")
    p = cmds.add_parser(
        "roster", parents=[opts], help="通讯录：本单位及下级单位的信息员、分管领导和电话"
    )
    p.add_argument("action", nargs="?", choices=["set"], help="set：以文件更新本单位通讯录")
    p.add_argument("file", nargs="?", type=Path, help="通讯录文件（[[person]]）")
    p = cmds.add_parser("phone", parents=[opts], help="电话报告：登记、关联书面首报、列出")
    p.add_argument("action", nargs="?", choices=["add", "link"], help="add 登记、link 关联")
    p.add_argument("target", nargs="?", help="add：来电单位代码；link：电话报告编号")
    p.add_argument("item", nargs="?", help="link：书面首报的信息编号")
    p.add_argument("--caller", default="", help="来电人")
    p.add_argument("--summary", default="", help="报告内容")
    p.add_argument("--severity", default="", help="事件级别：一般、较大、重大、特别重大")
    p.add_argument("--occurred", default="", help="事发时间，如 2026-11-21T14:35:00+08:00")
    p.add_argument("--called", default="", help="来电时间（缺省为现在）")
    p.add_argument("--place", default="", help="事发地点")
    p = cmds.add_parser("show", parents=[opts], help="查看一条信息（或约稿）的全部内容与流转")
    p.add_argument("id")

    p = cmds.add_parser("adopt", parents=[opts], help="采用收到的信息")
    p.add_argument("id")
    p.add_argument("--issue", default="", help="拟用刊物期次，如 每日要情/1")
    p = cmds.add_parser("return", parents=[opts], help="退回修改（须写明理由）")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p = cmds.add_parser(
        "verify", parents=[opts], help="要求来源单位核实收到的信息，或答复上级的核实要求"
    )
    p.add_argument("id")
    ask = p.add_mutually_exclusive_group(required=True)
    ask.add_argument("--question", help="要核实的内容（收件单位提出）")
    ask.add_argument("--answer", help="核实结果（来源单位答复）")
    p.add_argument(
        "--deadline", default="", help="答复时限，如 2026-11-21T18:00:00+08:00（缺省 24 小时内）"
    )
    p = cmds.add_parser("reserve", parents=[opts], help="存稿备用")
    p.add_argument("id")
    p = cmds.add_parser("reject", parents=[opts], help="退稿")
    p.add_argument("id")
    p.add_argument("--reason", default="")
    p = cmds.add_parser("forward", parents=[opts], help="转报上级（生成本单位新信息，待签发）")
    p.add_argument("id")
    p.add_argument("--title", default="", help="转报标题（默认沿用原标题）")
    p = cmds.add_parser("merge", parents=[opts], help="将多条信息综合为一条（待签发）")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--title", required=True)
    p.add_argument("--body", default="", help="综合后的正文（默认为各条正文依次相接）")

    p = cmds.add_parser("leads", parents=[opts], help="列出信息线索（订阅的媒体与政府网站）")
    p.add_argument("--match", default="", metavar="TEXT", help="只列出含此文字的线索")
    p.add_argument("--all", action="store_true", help="也列出已忽略和已成稿的线索")
    p.add_argument("--limit", type=int, default=50, help="最多列出几条")
    p = cmds.add_parser("lead", parents=[opts], help="处理一条线索：保留、忽略或写成信息")
    p.add_argument(
        "action",
        choices=["keep", "dismiss", "draft", "show"],
        metavar="操作",
        help="keep 保留、dismiss 忽略、draft 写成信息（待签发）、show 查看",
    )
    p.add_argument("id", type=int, metavar="ID", help="线索编号（见 xinbao leads）")

    cmds.add_parser("console", parents=[opts], help="文字界面工作台")
    cmds.add_parser(
        "ssh",
        parents=[opts],
        help="SSH 密钥的强制命令：无命令时打开工作台，否则执行 SSH_ORIGINAL_COMMAND 中的一条命令",
    )
    p = cmds.add_parser(
        "demo", parents=[opts], help="演示：在本机运行一个多层级报送网络并打开工作台"
    )
    p.add_argument("--keep", action="store_true", help="保留演示网络的目录")
    p.add_argument("--desk", default="140200", help="在哪个节点打开工作台（默认大同市 140200）")
    p.add_argument("--no-console", action="store_true", help="不打开工作台，列出收件后结束")
    return parser


def handle(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from console.commands import execute

    return execute(parser, args)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``xinbao``."""
    sys.exit(run(PROG, handle, argv))


if __name__ == "__main__":
    main()
