"""The report's sections rendered twice: a self-contained HTML page and a markdown page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rlaif.report.section import Section, Table

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2433;background:#fafbfc}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}
nav a{margin-right:12px;font-size:13px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;background:#fff}
th,td{border:1px solid #dfe3ea;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f0f3f8}
svg.plot{display:block;margin:10px 0;background:#fff;border:1px solid #e3e7ee;border-radius:4px;max-width:100%;height:auto}
.plot-title{font-size:14px;font-weight:600} .tick,.legend{font-size:11px;fill:#334} .axis-label{font-size:11px;fill:#556}
.grid{stroke:#eef0f4} .axis{stroke:#889} .reference{stroke:#c33;stroke-dasharray:4 3}
.errorbar{stroke:#222;stroke-width:1.3;fill:none} .line{fill:none;stroke-width:2} .band{opacity:.18}
.example{background:#fff;border:1px solid #e3e7ee;border-radius:4px;padding:8px 12px;margin:10px 0}
.example pre,.config pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:6px 8px;margin:2px 0 8px;font-size:12.5px}
.label{font-size:12px;font-weight:600;color:#445} .notes li{color:#8a4b00} .caption{font-size:12px;color:#556;margin:0}
"""

#: a self-check the browser test reads: how many plots drew marks, and any script error (no network, no libraries)
_CHECK_JS = """
window.addEventListener('error', function (e) { document.body.setAttribute('data-error', String(e.message)); });
window.addEventListener('load', function () {
  var n = 0; document.querySelectorAll('svg.plot').forEach(function (svg) {
    var b = svg.getBBox(); if (b.width > 0 && b.height > 0 && svg.querySelector('rect.bar,path.line,circle.point')) n++; });
  document.body.setAttribute('data-plots-rendered', String(n));
  document.body.setAttribute('data-plots', String(document.querySelectorAll('svg.plot').length));
});
"""


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The self-contained HTML page (inline CSS, SVG plots and a self-check script; no network)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{_CSS}</style><script>{_CHECK_JS}</script></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        "<nav>" + "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for s in sections:
        out.append(f'<section id="{s.anchor}" class="{s.anchor}"><h2>{escape(s.title)}</h2>')
        in_list = False
        for item in s.items:
            if isinstance(item, tuple) and item[0] == "li":
                if not in_list:
                    out.append("<ul>")
                    in_list = True
                out.append(f"<li>{escape(item[1])}</li>")
                continue
            if in_list:
                out.append("</ul>")
                in_list = False
            if isinstance(item, Table):
                head = "".join(f"<th>{escape(h)}</th>" for h in item.headers)
                body = "".join(
                    "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in item.rows
                )
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif item[0] == "p":
                out.append(f"<p>{escape(item[1])}</p>")
            elif item[0] == "h3":
                out.append(f"<h3>{escape(item[1])}</h3>")
            elif item[0] == "svg":
                out.append(item[1])  # built by rlaif.report.svg, every text inside escaped there
            elif item[0] == "example":
                blocks = "".join(
                    f'<div class="label">{escape(label)}</div><pre>{escape(text)}</pre>'
                    for label, text in item[2]
                )
                out.append(f'<div class="example"><div class="label">{escape(item[1])}</div>{blocks}</div>')
            elif item[0] == "pre":
                out.append(
                    f"<details><summary>{escape(item[1])}</summary><pre>{escape(item[2])}</pre></details>"
                )
        if in_list:
            out.append("</ul>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The markdown page: the same sections, tables and examples, without the plots."""
    out = [f"# {title}", "", "Plots are in report.html (same folder); this file has the tables.", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for item in s.items:
            if isinstance(item, Table):
                out.append("| " + " | ".join(_md_cell(h) or " " for h in item.headers) + " |")
                out.append("|" + "---|" * len(item.headers))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in item.rows]
                out.append("")
            elif item[0] == "li":
                out.append(f"- {item[1]}")
            elif item[0] == "p":
                out += [item[1], ""]
            elif item[0] == "h3":
                out += [f"### {item[1]}", ""]
            elif item[0] == "example":
                out += [f"**{item[1]}**", ""]
                for label, text in item[2]:
                    quoted = "\n".join(
                        "> " + line for line in (text or "(empty)").splitlines() or ["(empty)"]
                    )
                    out += [f"*{label}*", "", quoted, ""]
            elif item[0] == "pre":
                out += [
                    f"<details><summary>{item[1]}</summary>",
                    "",
                    "```json",
                    item[2],
                    "```",
                    "",
                    "</details>",
                    "",
                ]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["render_html", "render_markdown"]
