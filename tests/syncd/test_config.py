"""The daemon's syncd.toml: defaults, every problem reported by key, and link rewriting."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from schema.error import ConfigError, NotFound
from schema.vocabulary import Classification
from syncd.config import (
    SYNC_CONFIG_FILE,
    Feed,
    HttpLimits,
    Intervals,
    Link,
    SyncConfig,
    SyncConfigError,
    format_listen,
    load,
    parse_listen,
    remove_link,
    save_link,
)

FULL = """\
listen = "0.0.0.0:8470"
tls_cert = "tls/cert.pem"
tls_key = "/etc/xinbao/key.pem"
drop = ["/media/usb/xinbao", "incoming"]

[intervals]
send = 0.5
fetch = 10
retry_min = 2.0
retry_max = 120.0
resend_after = 900.0
drop_poll = 3.0
stable = 1.5

[limits]
max_upload_bytes = 1048576
uploads_per_minute = 60
timeout = 12.5

[links.140200]
url = "https://city.example.gov.cn:8443/xinbao"
ceiling = "秘密"

[links.140212]
folder = "to-140212"

[links.140000-fgw]
folder = "/media/usb/to-fgw"
ceiling = "公开"
"""


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / SYNC_CONFIG_FILE
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(home: Path, text: str) -> list[str]:
    write(home, text)
    with pytest.raises(ConfigError) as caught:
        load(home)
    assert isinstance(caught.value, SyncConfigError)
    return caught.value.problems


# --- reading -------------------------------------------------------------------------------


def test_a_missing_file_means_every_default_and_no_links(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config == SyncConfig(drop=(tmp_path / "drop",))
    assert config.listen is None and not config.https and config.links == {}
    assert config.intervals == Intervals(1.0, 5.0, 1.0, 300.0, 600.0, 2.0, 1.0)
    assert config.limits == HttpLimits(2147483648, 60000, 30.0)


def test_an_empty_file_is_the_same_as_a_missing_one(tmp_path: Path) -> None:
    write(tmp_path, "")
    assert load(tmp_path) == SyncConfig(drop=(tmp_path / "drop",))


def test_a_full_file_is_read_with_paths_resolved_against_the_home(tmp_path: Path) -> None:
    write(tmp_path, FULL)
    config = load(tmp_path)
    assert config.listen == ("0.0.0.0", 8470)
    assert config.tls_cert == tmp_path / "tls" / "cert.pem"
    assert config.tls_key == Path("/etc/xinbao/key.pem")
    assert config.https
    assert config.drop == (Path("/media/usb/xinbao"), tmp_path / "incoming")
    assert config.intervals == Intervals(0.5, 10.0, 2.0, 120.0, 900.0, 3.0, 1.5)
    assert isinstance(config.intervals.fetch, float)  # an integer is accepted as seconds
    assert config.limits == HttpLimits(1048576, 60, 12.5)
    assert config.links == {
        "140200": Link(
            "140200", "https://city.example.gov.cn:8443/xinbao", None, Classification.SECRET
        ),
        "140212": Link("140212", None, tmp_path / "to-140212", Classification.CONFIDENTIAL),
        "140000-fgw": Link("140000-fgw", None, Path("/media/usb/to-fgw"), Classification.PUBLIC),
    }


def test_a_full_file_round_trips_through_save_link(tmp_path: Path) -> None:
    write(tmp_path, FULL)
    before = load(tmp_path)
    save_link(tmp_path, before.links["140200"])  # rewriting a link as it is changes nothing
    assert load(tmp_path) == before
    text = (tmp_path / SYNC_CONFIG_FILE).read_text("utf-8")
    assert tomllib.loads(text) == tomllib.loads(FULL)
    assert text.startswith("# ")  # a note that comments are not kept


def test_english_ceiling_names_and_empty_tls_and_listen_mean_unset(tmp_path: Path) -> None:
    write(
        tmp_path,
        'listen = ""\ntls_cert = ""\ntls_key = ""\ndrop = []\n'
        '[links.140200]\nurl = "http://127.0.0.1:8471"\nceiling = "internal"\n',
    )
    config = load(tmp_path)
    assert config.listen is None and config.tls_cert is None and not config.https
    assert config.drop == ()
    assert config.links["140200"].ceiling is Classification.INTERNAL


def test_feed_sources_are_read_with_their_defaults(tmp_path: Path) -> None:
    (tmp_path / SYNC_CONFIG_FILE).write_text(
        '[[feeds]]\nname = " 中国政府网 "\nurl = "https://www.gov.cn/rss?c=1"\n'
        'keywords = ["放管服", "欠薪", "放管服"]\n'
        '[[feeds]]\nname = "大同日报"\nfolder = "feeds/datong"\ninterval = 60\n',
        "utf-8",
    )
    first, second = load(tmp_path).feeds
    assert first == Feed(
        "中国政府网", url="https://www.gov.cn/rss?c=1", keywords=("放管服", "欠薪")
    )
    assert first.interval == 900.0 and first.where == "https://www.gov.cn/rss?c=1"
    assert second == Feed("大同日报", folder=tmp_path / "feeds/datong", interval=60.0)
    assert load(tmp_path).limits.max_feed_bytes == 5 * 1024**2


def test_save_link_keeps_the_feed_sources(tmp_path: Path) -> None:
    (tmp_path / SYNC_CONFIG_FILE).write_text(
        '[[feeds]]\nname = "网"\nurl = "http://x/rss"\nkeywords = ["欠薪"]\n', "utf-8"
    )
    save_link(tmp_path, Link("140200", url="http://127.0.0.1:8471"))
    assert load(tmp_path).feeds == (Feed("网", url="http://x/rss", keywords=("欠薪",)),)


def test_a_link_carries_nothing_above_its_ceiling() -> None:
    link = Link("140200", url="http://x", ceiling=Classification.INTERNAL)
    assert link.carries(Classification.PUBLIC) and link.carries(Classification.INTERNAL)
    assert not link.carries(Classification.SECRET)
    assert Link("140200", url="http://x").carries(Classification.CONFIDENTIAL)


# --- problems, by key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('listen = "localhost"', "listen：“localhost”缺少端口"),
        ("listen = 8470", "listen：应为“主机:端口”文字，实际为 8470"),
        ('listen = "::1:8470"', "listen：“::1:8470”IPv6 地址须写在方括号中"),
        ('tls_cert = "c.pem"', "tls_key：设置了 tls_cert 时也须设置"),
        ('tls_key = "k.pem"', "tls_cert：设置了 tls_key 时也须设置"),
        ("tls_cert = 1\ntls_key = 'k'", "tls_cert：应为路径文字，实际为 1"),
        ('drop = "/media/usb"', "drop：应为目录列表"),
        ('drop = ["a", ""]', "drop：第 2 项不能为空"),
        ('drop = ["a", 7]', "drop：第 2 项应为路径文字，实际为 7"),
        ('drop = ["a", "./a"]', "drop：第 2 项"),
        ('drop = ["~/drop"]', "drop：第 1 项不支持 ~"),
        ("intervals = 5", "intervals：应为表"),
        ("[intervals]\nsend = true", "intervals.send：应为大于 0 的秒数，实际为 true"),
        ("[intervals]\nsend = 0", "intervals.send：应为大于 0 的秒数，实际为 0"),
        ("[intervals]\nfetch = -1.5", "intervals.fetch：应为大于 0 的秒数，实际为 -1.5"),
        ("[intervals]\nstable = nan", "intervals.stable：应为大于 0 的秒数，实际为 nan"),
        ("[intervals]\nretry_max = inf", "intervals.retry_max：应为大于 0 的秒数，实际为 inf"),
        ('[intervals]\ndrop_poll = "2"', "intervals.drop_poll：应为大于 0 的秒数，实际为 “2”"),
        (
            "[intervals]\nretry_min = 60\nretry_max = 30",
            "intervals.retry_min：60.0 不能大于 intervals.retry_max（30.0）",
        ),
        ("[limits]\nmax_upload_bytes = 2e9", "limits.max_upload_bytes：应为大于 0 的整数"),
        ("[limits]\nuploads_per_minute = false", "limits.uploads_per_minute：应为大于 0 的整数"),
        ("[limits]\nuploads_per_minute = 0", "limits.uploads_per_minute：应为大于 0 的整数"),
        ("[limits]\ntimeout = 0.0", "limits.timeout：应为大于 0 的秒数"),
        ("links = 1", "links：应为表"),
        ('[links]\n140200 = "http://x"', "links.140200：应为表"),
        ('[links.abc]\nurl = "http://x"', "links.abc：“abc”不是有效的单位代码"),
        ('[links.140200]\nurl = "ftp://x"', "links.140200.url：不是 http:// 或 https:// 地址"),
        ('[links.140200]\nurl = "127.0.0.1:8471"', "links.140200.url：不是 http:// 或 https://"),
        ('[links.140200]\nurl = "http://"', "links.140200.url：缺少主机名"),
        ('[links.140200]\nurl = "http://h:99999"', "links.140200.url：端口应为 1–65535"),
        ('[links.140200]\nurl = "http://u:p@h"', "links.140200.url：地址中不能含用户名或口令"),
        ('[links.140200]\nurl = "http://h/?a=1"', "links.140200.url：地址中不能带 ? 或 #"),
        ("[links.140200]\nurl = 5", "links.140200.url：应为地址文字，实际为 5"),
        ('[links.140200]\nfolder = ""', "links.140200.folder：不能为空"),
        ('[links.140200]\nurl = "http://x"\nceiling = "绝对"', "links.140200.ceiling：“绝对”不是"),
        ('[links.140200]\nurl = "http://x"\nceiling = 3', "links.140200.ceiling：应为文字"),
        (
            'drop = ["/media/usb/x"]\n[links.140200]\nfolder = "/media/usb/x/"',
            "links.140200.folder：/media/usb/x 也是接收目录（drop）",
        ),
        ("[links.140200]\nceiling = '内部'", "links.140200：url 与 folder 须填且只填一个"),
        ("feeds = 1", "feeds：应为表的数组"),
        ("feeds = [1]", "feeds 第 1 项：应为表"),
        ('[[feeds]]\nurl = "http://x/rss"', "feeds 第 1 项.name：应为来源名称文字"),
        ('[[feeds]]\nname = "网"', "feeds.网：url 与 folder 须填且只填一个"),
        ('[[feeds]]\nname = "网"\nurl = "ftp://x"', "feeds.网.url：不是 http:// 或 https://"),
        ('[[feeds]]\nname = "网"\nurl = "http://u:p@x"', "feeds.网.url：地址中不能含用户名"),
        ('[[feeds]]\nname = "网"\nfolder = ""', "feeds.网.folder：不能为空"),
        (
            'drop = ["in"]\n[[feeds]]\nname = "网"\nfolder = "in"',
            "feeds.网.folder：",
        ),
        ('[[feeds]]\nname = "网"\nurl = "http://x"\ninterval = 0', "feeds.网.interval：应为大于 0"),
        ('[[feeds]]\nname = "网"\nurl = "http://x"\nkeywords = "欠薪"', "feeds.网.keywords："),
        ('[[feeds]]\nname = "网"\nurl = "http://x"\nkeywords = [""]', "feeds.网.keywords："),
        (
            '[[feeds]]\nname = "网"\nurl = "http://x"\nkeyword = []',
            "feeds.网.keyword：未知的设置项",
        ),
        (
            '[[feeds]]\nname = "网"\nurl = "http://x"\n[[feeds]]\nname = "网"\nurl = "http://y"',
            "feeds.网：来源名称重复",
        ),
        ("[limits]\nmax_feed_bytes = 0", "limits.max_feed_bytes：应为大于 0 的整数"),
        (
            "[links.140200]\nurl = 'http://x'\nfolder = 'out'",
            "links.140200：url 与 folder 须填且只填一个",
        ),
    ],
)
def test_each_problem_is_reported_by_its_key(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_top_secret_is_refused_as_a_ceiling(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[links.140200]\nurl = "http://x"\nceiling = "绝密"')
    assert problems == ["links.140200.ceiling：绝密信息不得进入本系统，请按保密规定另行报送"]


def test_unknown_keys_are_problems_with_a_suggestion(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        'lisen = "127.0.0.1:1"\n'
        "[intervals]\nsned = 1\n"
        "[limits]\ntimeuot = 3\n"
        "[interval]\nsend = 1\n"
        '[links.140200]\nurl = "http://x"\nceil = "内部"\n',
    )
    assert problems == [
        "lisen：未知的设置项（是否应为 listen？）",
        "interval：未知的设置项（是否应为 intervals？）",
        "intervals.sned：未知的设置项（是否应为 send？）",
        "limits.timeuot：未知的设置项（是否应为 timeout？）",
        "links.140200.ceil：未知的设置项（是否应为 ceiling？）",
    ]


def test_every_problem_is_listed_in_one_message_prefixed_with_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'listen = "[::1]:70000"\n'
        "[intervals]\nsend = true\n"
        '[links.140200]\nurl = "gopher://x"\n'
        '[links.140212]\nurl = "http://x"\nfolder = "out"\nceiling = "绝密"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    expected = [
        "listen：“[::1]:70000”端口“70000”应为 0–65535 的整数（0 表示临时端口）",
        "intervals.send：应为大于 0 的秒数，实际为 true",
        "links.140200.url：不是 http:// 或 https:// 地址",
        "links.140212：url 与 folder 须填且只填一个",
        "links.140212.ceiling：绝密信息不得进入本系统，请按保密规定另行报送",
    ]
    assert caught.value.problems == expected
    assert str(caught.value) == f"{path} 有误：" + "；".join(expected)
    assert caught.value.title == "配置有误"


def test_a_bad_retry_value_does_not_also_report_the_retry_order(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[intervals]\nretry_min = 600\nretry_max = 0")
    assert problems == ["intervals.retry_max：应为大于 0 的秒数，实际为 0"]


def test_a_file_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[intervals\nsend = 1\n")
    with pytest.raises(ConfigError, match="不是有效的 TOML") as caught:
        load(tmp_path)
    assert str(caught.value).startswith(f"{path} 有误：")


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    (tmp_path / SYNC_CONFIG_FILE).write_bytes("drop = ['接收']".encode("gbk"))
    with pytest.raises(ConfigError, match="不是 UTF-8"):
        load(tmp_path)


# --- listen --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8470", ("127.0.0.1", 8470)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("node-140212.example.gov.cn:80", ("node-140212.example.gov.cn", 80)),
        ("[::1]:8470", ("::1", 8470)),
        ("[::]:8470", ("::", 8470)),
        ("[fe80::1%eth0]:1", ("fe80::1%eth0", 1)),
        (" 127.0.0.1:8470 ", ("127.0.0.1", 8470)),
    ],
)
def test_listen_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected
    assert parse_listen(format_listen(*expected)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "缺少端口"),
        (":8470", "缺少主机"),
        ("127.0.0.1:65536", "端口“65536”应为 0–65535 的整数"),
        ("127.0.0.1:-1", "端口“-1”应为 0–65535 的整数"),
        ("127.0.0.1:+1", "端口“+1”应为 0–65535 的整数"),
        ("127.0.0.1:", "端口“”应为 0–65535 的整数"),
        ("127.0.0.1:８４７０", "应为 0–65535 的整数"),  # full-width digits
        ("::1:8470", "IPv6 地址须写在方括号中"),
        ("[::1]", "缺少端口"),
        ("[::1:8470", "缺少右方括号"),
        ("[127.0.0.1]:80", "不是有效的 IPv6 地址"),
        ("[::1]:99999", "应为 0–65535 的整数"),
        ("300.1.1.1:80", "“300.1.1.1”不是有效的 IPv4 地址"),
        ("bad_host:80", "“bad_host”不是有效的主机名或 IPv4 地址"),
        ("", "缺少端口"),
    ],
)
def test_bad_listen_addresses_are_refused_in_chinese(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="监听地址") as caught:
        parse_listen(text)
    assert reason in str(caught.value)


# --- rewriting links -----------------------------------------------------------------------


OTHER_SETTINGS = """\
# 本节点的同步设置
listen = "[::1]:8470"
drop = ["incoming"]

[intervals]
send = 2.5
retry_max = 60

[limits]
timeout = 5.0

[links.140200]
url = "http://127.0.0.1:8471"
ceiling = "内部"
"""


def test_save_link_adds_a_link_and_keeps_every_other_value(tmp_path: Path) -> None:
    write(tmp_path, OTHER_SETTINGS)
    before = load(tmp_path)
    link = Link("140212", folder=tmp_path / "to-140212", ceiling=Classification.SECRET)
    save_link(tmp_path, link)
    after = load(tmp_path)
    assert after.links == {**before.links, "140212": link}
    assert after == SyncConfig(
        listen=before.listen,
        drop=before.drop,
        intervals=before.intervals,
        limits=before.limits,
        links=after.links,
    )
    raw = tomllib.loads((tmp_path / SYNC_CONFIG_FILE).read_text("utf-8"))
    assert raw["intervals"] == {"send": 2.5, "retry_max": 60}  # written as the operator wrote
    assert "limits" in raw and "tls_cert" not in raw  # no defaults written out
    assert not list(tmp_path.glob("*.tmp"))


def test_save_link_replaces_a_link_of_the_same_peer(tmp_path: Path) -> None:
    write(tmp_path, OTHER_SETTINGS)
    save_link(tmp_path, Link("140200", folder=Path("/media/usb/to-140200")))
    assert load(tmp_path).links == {
        "140200": Link("140200", None, Path("/media/usb/to-140200"), Classification.CONFIDENTIAL)
    }


def test_save_link_keeps_a_relative_folder_relative_to_the_home(tmp_path: Path) -> None:
    save_link(tmp_path, Link("140212", folder=Path("to-140212")))
    assert load(tmp_path).links["140212"].folder == tmp_path / "to-140212"
    raw = tomllib.loads((tmp_path / SYNC_CONFIG_FILE).read_text("utf-8"))
    assert raw == {"links": {"140212": {"folder": "to-140212", "ceiling": "机密"}}}


def test_save_link_creates_the_file_when_missing(tmp_path: Path) -> None:
    link = Link("140200", url="http://127.0.0.1:8471", ceiling=Classification.INTERNAL)
    save_link(tmp_path, link)
    assert load(tmp_path) == SyncConfig(drop=(tmp_path / "drop",), links={"140200": link})
    mode = stat.S_IMODE((tmp_path / SYNC_CONFIG_FILE).stat().st_mode)
    assert mode == 0o644


def test_save_link_keeps_the_file_mode(tmp_path: Path) -> None:
    path = write(tmp_path, OTHER_SETTINGS)
    os.chmod(path, 0o640)
    save_link(tmp_path, Link("140212", url="http://x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_remove_link_keeps_every_other_value(tmp_path: Path) -> None:
    write(tmp_path, OTHER_SETTINGS)
    save_link(tmp_path, Link("140212", url="https://140212.example:9000"))
    before = load(tmp_path)
    remove_link(tmp_path, "140200")
    after = load(tmp_path)
    assert after.links == {"140212": before.links["140212"]}
    assert (after.listen, after.drop, after.intervals, after.limits) == (
        before.listen,
        before.drop,
        before.intervals,
        before.limits,
    )
    remove_link(tmp_path, "140212")
    assert load(tmp_path).links == {}
    assert "links" not in tomllib.loads((tmp_path / SYNC_CONFIG_FILE).read_text("utf-8"))


def test_removing_a_link_that_does_not_exist_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="没有到 140299 的链路"):
        remove_link(tmp_path, "140299")
    write(tmp_path, OTHER_SETTINGS)
    with pytest.raises(NotFound):
        remove_link(tmp_path, "140299")


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        (Link("140212", url="ftp://x"), "links.140212.url：不是 http:// 或 https:// 地址"),
        (Link("140212"), "links.140212：url 与 folder 须填且只填一个"),
        (Link("140212", url="http://x", folder=Path("o")), "links.140212：url 与 folder"),
        (Link("not-an-id", url="http://x"), "links.not-an-id：“not-an-id”不是有效的单位代码"),
        (Link("140212", folder=Path("incoming")), "links.140212.folder："),
    ],
)
def test_a_refused_save_leaves_the_old_file_untouched(
    tmp_path: Path, link: Link, problem: str
) -> None:
    path = write(tmp_path, OTHER_SETTINGS)
    with pytest.raises(ConfigError) as caught:
        save_link(tmp_path, link)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert path.read_text("utf-8") == OTHER_SETTINGS
    assert not list(tmp_path.glob("*.tmp"))


def test_a_save_over_a_broken_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    broken = OTHER_SETTINGS + "\n[intervals]\nsend = 1\n"  # a table defined twice
    path = write(tmp_path, broken)
    with pytest.raises(ConfigError, match="不是有效的 TOML"):
        save_link(tmp_path, Link("140212", url="http://x"))
    with pytest.raises(ConfigError, match="不是有效的 TOML"):
        remove_link(tmp_path, "140200")
    assert path.read_text("utf-8") == broken

    invalid = OTHER_SETTINGS.replace("send = 2.5", "send = true")
    write(tmp_path, invalid)
    with pytest.raises(ConfigError, match=r"intervals\.send"):
        save_link(tmp_path, Link("140212", url="http://x"))
    assert path.read_text("utf-8") == invalid

    write(tmp_path, "links = 3\n")
    with pytest.raises(ConfigError, match="links：应为表"):
        save_link(tmp_path, Link("140212", url="http://x"))
    with pytest.raises(ConfigError, match="links：应为表"):
        remove_link(tmp_path, "140212")
    assert path.read_text("utf-8") == "links = 3\n"


def test_save_link_fixes_a_bad_entry_for_the_same_peer(tmp_path: Path) -> None:
    write(tmp_path, '[links.140200]\nurl = "gopher://x"\n')
    with pytest.raises(ConfigError):
        load(tmp_path)
    save_link(tmp_path, Link("140200", url="http://x"))
    assert load(tmp_path).links["140200"].url == "http://x"


def test_a_failed_write_is_a_config_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = write(home, OTHER_SETTINGS)
    (home / (SYNC_CONFIG_FILE + ".tmp")).mkdir()  # the temp file cannot be created
    with pytest.raises(ConfigError, match="无法写入"):
        save_link(home, Link("140212", url="http://x"))
    assert path.read_text("utf-8") == OTHER_SETTINGS
