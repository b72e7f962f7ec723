"""The HTML pieces every report page is made of: tables, embedded figures, the heading, the document.

Every text that comes from the data is escaped here; the page is self-contained (inline style, one
inline script, figures as data: URLs) under a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from typing import Any

WRONG_EXAMPLES = 20  # rows in the table of the most confidently wrong predictions
TEXT_CHARS = 300  # characters of a text shown in that table
NO_CURVES = (
    '<p class="note">No curves: the run logged no loss and no validation metrics '
    "(train.logging_strategy and train.eval_strategy no).</p>"
)
# Sets data-images-loaded="loaded/all" on <body> once the page has loaded (checked by the tests).
_SCRIPT = (
    'window.addEventListener("load",function(){var i=document.images,n=0;'
    "for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0){n++}}"
    'document.body.setAttribute("data-images-loaded",n+"/"+i.length)});'
)
_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;color:#1f2328;max-width:1100px;margin:2em auto;padding:0 1em}"
    "h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.25em .6em;"
    "text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.text{max-width:40em;overflow-wrap:anywhere}figure{margin:1em 0}img{max-width:100%;height:auto}"
    "figcaption,.note{color:#57606a;font-size:.9em}.row{display:flex;flex-wrap:wrap;gap:1em}"
    ".row figure{flex:0 1 auto;min-width:0}"
)


def cut_text(text: str | None) -> str:
    """A text shortened to TEXT_CHARS characters, with an ellipsis where it was cut."""
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:.4f}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], **cells: str) -> str:
    """An HTML table, every value escaped; `cells` gives a column (by header) a td class."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = []
    for row in rows:
        tds = [
            f'<td class="{cells[name]}">{html.escape(str(value))}</td>' if name in cells else _cell(value)
            for name, value in zip(header, row, strict=True)
        ]
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(png: bytes | None, alt: str, caption: str) -> str:
    """A PNG embedded as a data: URL with its caption; nothing when there is no PNG."""
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def intro(heading: str, facts: dict[str, str]) -> list[str]:
    """The page's heading and its line of facts, escaped."""
    shown = " · ".join(f"{html.escape(k)}: <b>{html.escape(v)}</b>" for k, v in facts.items())
    return [f"<h1>{html.escape(heading)}</h1>", f"<p>{shown}</p>"]


def document(heading: str, split: str, body: str) -> str:
    """The whole HTML page around `body`: its title, style, script and Content-Security-Policy."""
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(heading)}: {html.escape(split)} report</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head>\n<body>\n{body}\n</body></html>\n"
    )
