// In-page checks of tests/web/test_layouts.py, evaluated by Playwright (each a function expression, separated by
// a line holding only "//--").

/** The layout faults a person would see: a page wider than the window, controls running off it, text spilling out of
 *  its box, items of the top bar over each other, text too small to read. */
([controls, boxes, minFont]) => {
  const width = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className
    === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") + ` "${(el.textContent || "").trim().slice(0, 30)}"`;
  const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const faults = [];
  if (document.scrollingElement.scrollWidth > innerWidth) {
    faults.push(`page scrolls sideways: ${document.scrollingElement.scrollWidth} px in a ${innerWidth} px window`);
  }
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el) || el.closest(".table-scroll")) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > width + 0.5) faults.push(`${name(el)} runs off the window: ${r.left}..${r.right} of ${width}`);
  }
  for (const el of document.querySelectorAll(boxes)) {
    if (shown(el) && el.scrollWidth > el.clientWidth + 1) faults.push(`${name(el)} spills out: ${el.scrollWidth} > ${el.clientWidth}`);
  }
  const bar = [...document.querySelectorAll(".topbar .brand, .topbar nav a, .topbar .lang button")].filter(shown);
  for (let i = 0; i < bar.length; i++) for (let j = i + 1; j < bar.length; j++) {
    const a = bar[i].getBoundingClientRect(), b = bar[j].getBoundingClientRect();
    if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) {
      faults.push(`${name(bar[i])} overlaps ${name(bar[j])}`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !el || !shown(el) || el.closest(".maplibregl-ctrl-scale, script, style")) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < minFont) faults.push(`${name(el)} in ${size} px text`);
  }
  return [...new Set(faults)];
}
//--
/** Whether the text and progress bars of an element sit on one line: their boxes all share a band of height. */
(el) => {
  const rects = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    if (!walker.currentNode.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(walker.currentNode);
    rects.push(...range.getClientRects());
  }
  for (const bar of el.querySelectorAll("progress")) rects.push(bar.getBoundingClientRect());
  return rects.length > 0 && Math.max(...rects.map((r) => r.top)) < Math.min(...rects.map((r) => r.bottom));
}
//--
/** The point of the map (in its own pixels) nearest its centre where a couverture polygon is drawn, or null. */
() => {
  const map = window.ocsgeMap;
  const { width, height } = map.getCanvas().getBoundingClientRect();
  const points = [];
  for (let x = 10; x < width; x += 10) for (let y = 10; y < height; y += 10) points.push([x, y]);
  const away = ([x, y]) => Math.hypot(x - width / 2, y - height / 2);
  points.sort((a, b) => away(a) - away(b));
  return points.find((p) => map.queryRenderedFeatures(p, { layers: ["ocs-fill"] }).length) ?? null;
}
