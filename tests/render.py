"""The documents the desk exports, rendered as an office prints them: a sample 信息刊物 (several
pages) and a sample 通报, written as .docx and converted to PDF by LibreOffice headless.

    .venv/bin/python -m tests.render FOLDER     # make preview: .docx, .pdf and PNGs of pages

The rendering tests (tests/schema/test_rendered.py) read the PDFs back.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from schema import bulletin, requestfile
from schema import request as requests
from schema.issuefile import to_docx
from tests.schema.test_bulletin import november_city
from tests.schema.test_document import issue

OFFICE = "大同市人民政府办公室"
BODY = (
    "入冬以来，新荣区认真落实《关于做好冬季清洁取暖工作的通知》要求，摸清底数、兜牢底线，"
    "全力保障困难群众温暖过冬。一是补贴到户，全区3.6万户“煤改电”用户峰谷电价补贴全部发放到位；"
    "二是巡查到点，组织专班对老旧供热管网开展拉网式排查，发现并整改隐患27处；三是兜底到人，"
    "为低保、特困等困难群众送去取暖煤和棉被。\n下一步，新荣区将持续跟踪供暖运行情况，确保不冻一户、不漏一人。"
)


def documents(folder: Path) -> dict[str, Path]:
    """Write the sample documents as .docx into ``folder``: name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    clock, city = november_city()
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    number = bulletin.document_number(city.store, made, 2026)
    asked = city.store.one("SELECT id FROM request ORDER BY rowid LIMIT 1")
    assert asked is not None  # the city's November topic request
    request = requests.get(city.store, asked["id"])
    return {
        "约稿通知": requestfile.to_docx(city.store, request, folder / "yuegao.docx"),
        "刊物": to_docx(issue(4, BODY), OFFICE, folder / "kanwu.docx", copy=7),
        "通报": bulletin.to_docx(
            made, folder / "tongbao.docx", number=number, issued=date(2026, 12, 1)
        ),
    }


def to_pdf(paths: list[Path], folder: Path) -> list[Path]:
    """Convert with LibreOffice headless (its own profile in ``folder``: parallel runs never
    share one); the PDFs, in order."""
    program = shutil.which("soffice")
    assert program, "make test installs LibreOffice (libreoffice-writer-nogui)"
    profile = folder / ".lo-profile"
    done = subprocess.run(
        [
            program,
            f"-env:UserInstallation={profile.resolve().as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    pdfs = [folder / f"{p.stem}.pdf" for p in paths]
    missing = [p for p in pdfs if not p.exists()]
    assert not missing, (missing, done.stdout, done.stderr)
    return pdfs


def preview(folder: Path) -> list[Path]:
    """make preview: each document's first pages as PNG (pdftoppm), for people to look at."""
    made = documents(folder)
    pngs: list[Path] = []
    for pdf in to_pdf(list(made.values()), folder):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-l", "3", str(pdf), str(folder / pdf.stem)],
            check=True,
            timeout=120,
        )
        pngs += sorted(folder.glob(f"{pdf.stem}-*.png"))
    return pngs


if __name__ == "__main__":
    where = Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/preview")
    for png in preview(where):
        print(png)
