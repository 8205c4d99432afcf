"""A report section: paragraphs, tables, plots and examples, in order, rendered by :mod:`rlaif.report.render`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A table: its header row and body rows."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One section of the run report, filled by its builder in display order."""

    title: str
    anchor: str
    items: list[Any] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.items.append(("p", text))

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        if rows:
            self.items.append(Table(headers, rows))

    def plot(self, svg: str) -> None:
        self.items.append(("svg", svg))

    def sub(self, text: str) -> None:
        self.items.append(("h3", text))

    def example(self, title: str, blocks: list[tuple[str, str]]) -> None:
        self.items.append(("example", title, blocks))

    def pre(self, summary: str, text: str) -> None:
        self.items.append(("pre", summary, text))


__all__ = ["Section", "Table"]
