"""Look of the chat UI: theme, CSS and the small script that makes citations clickable."""

from __future__ import annotations

import gradio as gr

SYSTEM_FONT = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONT = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]


def theme() -> gr.themes.Base:
    # System fonts only: the default theme fetches Google Fonts, which an offline machine cannot reach.
    return gr.themes.Default(primary_hue="blue", neutral_hue="slate", font=SYSTEM_FONT, font_mono=MONO_FONT,
                             radius_size="sm")


CSS = """
.gradio-container { max-width: 1500px !important; }
#rag-header h1 { font-size: 1.35rem; margin: 0; }
#rag-header p { margin: .15rem 0 0; color: var(--body-text-color-subdued); font-size: .9rem; }
#rag-header .rag-stats { font-size: .8rem; color: var(--body-text-color-subdued); }
.rag-answer, .rag-refusal, .rag-streaming, .rag-error { font-size: .95rem; line-height: 1.5; }
.rag-sent { }
.rag-cite { font-size: .75em; vertical-align: super; font-weight: 600; text-decoration: none;
  color: var(--color-accent) !important; margin-left: 1px; cursor: pointer; }
.rag-ok { display: inline-block; color: #fff; background: #16a34a; border-radius: 50%; width: 1.15em; height: 1.15em;
  line-height: 1.15em; text-align: center; font-weight: 700; font-size: .7em; margin: 0 2px 0 4px; cursor: help;
  vertical-align: 1px; }
.rag-unverified { color: #b45309; font-weight: 700; font-size: .8em; margin-left: 3px; cursor: help; }
.rag-sources { margin-top: .7rem; border-top: 1px solid var(--border-color-primary); padding-top: .4rem; }
.rag-sources-h { font-size: .72rem; text-transform: uppercase; letter-spacing: .06em; font-weight: 700;
  color: var(--body-text-color-subdued); margin-bottom: .25rem; }
.rag-sources ol, .rag-refusal ol { padding-left: 0; margin: 0; list-style: none; }
.rag-source, .rag-near { margin: .35rem 0 .55rem; padding: .45rem .6rem; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: var(--background-fill-secondary); }
.rag-src-head { font-weight: 600; }
.rag-n { color: var(--color-accent); font-weight: 700; }
.rag-src-title, .rag-near > a { text-decoration: none; color: inherit !important; }
.rag-src-title:hover, .rag-near > a:hover { text-decoration: underline; }
.rag-src-meta { font-size: .8rem; color: var(--body-text-color-subdued); }
.rag-badge { display: inline-block; font-size: .7rem; padding: 0 .4rem; margin-left: .3rem; border-radius: 9px;
  background: #e0e7ff; color: #3730a3; }
.rag-badge-warn { background: #fef3c7; color: #92400e; }
.rag-quote { margin: .3rem 0 .2rem !important; padding: .1rem .6rem !important; border-left: 3px solid #93c5fd !important;
  font-size: .88rem; font-style: normal; color: var(--body-text-color); }
.rag-speaker { font-style: italic; color: var(--body-text-color-subdued); }
.rag-src-actions { font-size: .8rem; display: flex; gap: 1rem; }
.rag-footer { margin-top: .4rem; font-size: .75rem; color: var(--body-text-color-subdued); }
.rag-notes { font-size: .8rem; color: var(--body-text-color-subdued); margin: .4rem 0 0; padding-left: 1.1rem; }
.rag-notes .rag-note-warn { color: #92400e; background: #fffbeb; border-left: 3px solid #f59e0b; padding: .1rem .4rem;
  list-style: none; margin-left: -1.1rem; margin-top: .2rem; }
summary.rag-sources-h { cursor: pointer; }
.rag-partial { margin-top: .4rem; padding: .35rem .6rem; background: #fffbeb; border-left: 4px solid #f59e0b;
  font-size: .88rem; }
.rag-refusal { background: #fffbeb; border: 1px solid #fcd34d; border-left: 5px solid #d97706; border-radius: 6px;
  padding: .6rem .8rem; color: #422006; }
.rag-refusal .rag-source, .rag-refusal .rag-near { background: #fffdf5; border-color: #fde68a; }
.rag-refusal-h { font-weight: 700; color: #b45309; margin-bottom: .2rem; }
.rag-snippet { font-size: .82rem; color: #57534e; margin-top: .15rem; }
.rag-error { background: #fef2f2; border-left: 5px solid #dc2626; padding: .5rem .8rem; border-radius: 6px; color: #7f1d1d; }
.rag-working { color: var(--body-text-color-subdued); font-style: italic; font-size: .85rem; }
.rag-table { border-collapse: collapse; width: 100%; font-size: .9rem; }
.rag-table th, .rag-table td { border: 1px solid var(--border-color-primary); padding: .3rem .5rem; vertical-align: top;
  text-align: left; word-break: normal; overflow-wrap: break-word; }
.rag-table tbody th, .rag-table thead th:first-child { width: 9rem; min-width: 9rem; }
.rag-viewer-empty { color: var(--body-text-color-subdued); padding: 1.2rem; text-align: center;
  border: 1px dashed var(--border-color-primary); border-radius: 6px; font-size: .9rem; }
.rag-view-head { margin-bottom: .5rem; }
.rag-view-title { font-weight: 700; font-size: 1rem; }
.rag-docid { font-family: var(--font-mono); font-size: .72rem; }
.rag-doctext { white-space: pre-wrap; font-family: Georgia, 'Times New Roman', serif; font-size: .92rem;
  line-height: 1.55; padding: .6rem .8rem; background: var(--background-fill-secondary); border-radius: 6px;
  border: 1px solid var(--border-color-primary); }
.rag-doctext { max-height: 62vh; overflow-y: auto; position: relative; }
.rag-placeholder { text-align: center; color: var(--body-text-color-subdued); padding: 2.5rem 1rem .5rem;
  font-size: .95rem; }
.rag-placeholder b { color: var(--body-text-color); font-size: 1.1rem; }
mark.rag-hit { background: #fde047; color: #1c1917; padding: 1px 0; border-radius: 2px; box-shadow: 0 0 0 2px #fde047; }
#rag-chat { border-radius: 8px; }
#rag-filters-summary { font-size: .8rem; color: var(--body-text-color-subdued); }
#rag-upload-status { font-size: .88rem; }
footer { display: none !important; }
"""

# Clicking [n] or a source title in an answer writes "turn:cN" into a hidden textbox; its change event
# opens the viewer. The key only names a citation the server already holds: no path leaves the server.
JS = """
() => {
  if (window.__ragCites) return; window.__ragCites = true;
  document.addEventListener('click', (ev) => {
    const el = ev.target.closest('a[href^="#rag-cite-"]');
    if (!el) return;
    ev.preventDefault();
    const box = document.querySelector('#rag-cite-key textarea, #rag-cite-key input');
    if (!box) return;
    box.value = el.getAttribute('href').slice(10) + '|' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }, true);
}
"""

SCROLL_TO_MARK = """
() => { setTimeout(() => {
  const m = document.querySelector('#rag-viewer mark');
  const box = m && m.closest('.rag-doctext');
  if (box) box.scrollTop = Math.max(0, m.offsetTop - box.clientHeight / 3);
}, 120); }
"""
