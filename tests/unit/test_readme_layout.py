"""The README's layout table names every package of rlaif and links every guide under docs/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_package_and_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    packages = sorted(
        p.name for p in (ROOT / "rlaif").iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    )
    assert len(packages) > 10
    assert [p for p in packages if f"`rlaif/{p}/`" not in readme] == []
    guides = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [g for g in guides if f"(docs/{g})" not in readme] == []
