"""What a reader of the HTML report sees, measured in a real browser (Playwright + Debian's chromium):
the first screen, and whether anything is wider than the window or cut at its SVG's edge."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
A4 = {"width": 718, "height": 1000}  # A4's 210 mm less two 12 mm margins, at 96 px per inch

_FIRST_SCREEN = """() => {
  const box = (sel) => { const e = document.querySelector(sel); if (!e) return null;
                         const r = e.getBoundingClientRect(); return [r.top, r.bottom]; };
  return {height: window.innerHeight, verdicts: box('#verdicts'), figure: box('#figure'),
          figure_svgs: document.querySelectorAll('#figure svg[role=img]').length,
          closed: [...document.querySelectorAll('details')].filter(d => !d.open).length};
}"""

_PROBLEMS = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const vw = document.documentElement.clientWidth, wide = [], clipped = [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + (e.textContent || '').trim().slice(0, 50) + '"';
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) wide.push(name(e) + ' right=' + Math.round(r.right));
  }
  for (const svg of document.querySelectorAll('svg')) {
    const b = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5)
        clipped.push('"' + t.textContent + '" in ' + (svg.getAttribute('aria-label') || 'svg'));
    }
  }
  const texts = [...document.querySelectorAll('svg text')].length;
  return {scroll_width: document.documentElement.scrollWidth, width: vw, wide, clipped, svg_texts: texts,
          page_height: document.documentElement.scrollHeight};
}"""


def look(path: str, screenshot: str | None = None) -> dict:
    """Open the report at 1280x900: the first screen as it opens, then every section opened; then
    as printed on A4 (print media, the page's width)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"file://{path}")
        first = page.evaluate(_FIRST_SCREEN)
        if screenshot:
            page.screenshot(path=screenshot)
        problems = page.evaluate(_PROBLEMS)
        if screenshot:
            page.screenshot(path=screenshot.replace(".png", "-open.png"), full_page=True)
        page.set_viewport_size(A4)
        page.emulate_media(media="print")
        printed = page.evaluate(_PROBLEMS)
        browser.close()
    return {"first": first, **problems, "printed": printed}
