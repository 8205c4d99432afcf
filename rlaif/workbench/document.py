"""A tiny document model written twice: as markdown and as one self-contained HTML file.

The workbench's reports (constitution diff, sensitivity, extraction) are built as a list of blocks — headings,
paragraphs, bullet lists, tables, preformatted text — and rendered by :meth:`Document.markdown` and
:meth:`Document.html`. Every piece of text is escaped in the HTML (responses and principles are untrusted), and the
page loads nothing from anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f7f7f7;padding:.5rem;"
    "white-space:pre-wrap}.del{color:#a00}.ins{color:#070}"
)


@dataclass
class Document:
    """Blocks in order; ``title`` becomes the page title and top heading."""

    title: str
    blocks: list[tuple[Any, ...]] = field(default_factory=list)

    def h2(self, text: str) -> None:
        """A section heading."""
        self.blocks.append(("h2", text))

    def h3(self, text: str) -> None:
        """A sub-section heading."""
        self.blocks.append(("h3", text))

    def p(self, text: str) -> None:
        """A paragraph."""
        self.blocks.append(("p", text))

    def bullets(self, items: Sequence[str]) -> None:
        """A bullet list (nothing when empty)."""
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table (nothing when there are no rows)."""
        if rows:
            self.blocks.append(("table", list(headers), [list(r) for r in rows]))

    def pre(self, text: str, *, diff: bool = False) -> None:
        """Preformatted text; ``diff=True`` colours ``-``/``+`` lines in the HTML."""
        self.blocks.append(("pre", text, diff))

    def markdown(self) -> str:
        """The document as GitHub-flavoured markdown."""

        def cell(x: str) -> str:
            return x.replace("|", "\\|").replace("\n", " ")

        out = [f"# {self.title}", ""]
        for b in self.blocks:
            kind = b[0]
            if kind in ("h2", "h3"):
                out += [("## " if kind == "h2" else "### ") + b[1], ""]
            elif kind == "p":
                out += [b[1], ""]
            elif kind == "ul":
                out += [f"- {x}" for x in b[1]] + [""]
            elif kind == "table":
                out.append("| " + " | ".join(cell(h) for h in b[1]) + " |")
                out.append("|" + "---|" * len(b[1]))
                out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in b[2]]
                out.append("")
            elif kind == "pre":
                out += ["```diff" if b[2] else "```", b[1].rstrip("\n"), "```", ""]
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        """The document as one self-contained HTML page (no scripts, no external resources)."""
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            f"<title>{escape(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{escape(self.title)}</h1>",
        ]
        for b in self.blocks:
            kind = b[0]
            if kind in ("h2", "h3", "p"):
                out.append(f"<{kind}>{escape(b[1])}</{kind}>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in b[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{escape(h)}</th>" for h in b[1])
                body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in b[2])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "pre":
                lines = []
                for line in b[1].rstrip("\n").split("\n"):
                    css = ""
                    if b[2] and line.startswith("-") and not line.startswith("---"):
                        css = "del"
                    elif b[2] and line.startswith("+") and not line.startswith("+++"):
                        css = "ins"
                    lines.append(f'<span class="{css}">{escape(line)}</span>' if css else escape(line))
                out.append("<pre>" + "\n".join(lines) + "</pre>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def write_document(doc: Document, out_dir: Any, stem: str) -> tuple[Any, Any]:
    """Write ``<stem>.md`` and ``<stem>.html`` into ``out_dir`` atomically; returns both paths."""
    from pathlib import Path

    from rlaif.atomic import atomic_write_text

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    md, html = folder / f"{stem}.md", folder / f"{stem}.html"
    atomic_write_text(md, doc.markdown())
    atomic_write_text(html, doc.html())
    return md, html


def clip(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters (for tables)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


__all__ = ["Document", "clip", "write_document"]
