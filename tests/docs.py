"""Real files of every supported format, written the way other programs write them."""

from __future__ import annotations

from pathlib import Path


def write_pdf(path: Path, pages: list[str], encrypt: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password=encrypt)
    pdf.output(str(path))
    return path


def write_docx(path: Path, paragraphs: list[str], title: str = "") -> Path:
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
    for p in paragraphs:
        d.add_paragraph(p)
    d.save(str(path))
    return path


def write_html(path: Path, title: str, body_html: str) -> Path:
    path.write_text(f"<html><head><title>{title}</title></head><body>{body_html}</body></html>", encoding="utf-8")
    return path
