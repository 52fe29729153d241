/* Accessibility basics of the open page, as a list of problems (empty: all good).
 * Evaluated by tests/browser/test_every_page.py; vpsshop's own check, no library.
 * - every visible form control has a label (label[for], a wrapping label, aria-label(ledby));
 * - a control marked aria-invalid names its error with aria-describedby, and that exists;
 * - e-mail and password inputs carry autocomplete;
 * - a skip link to the main content comes first (buyer pages; options.skipLink);
 * - a live status card, when there is one, is aria-live;
 * - text contrast >= 4.5:1 (3:1 for large text) against the background behind it.
 */
(options) => {
  "use strict";
  const problems = [];
  const describe = (el) => {
    const id = el.id ? "#" + el.id : "";
    const name = el.getAttribute("name") ? `[name=${el.getAttribute("name")}]` : "";
    const text = (el.textContent || "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${name}${text ? ` "${text}"` : ""}`;
  };
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") { return false; }
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };

  // Labels.
  const controls = document.querySelectorAll(
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]), select, textarea"
  );
  controls.forEach((el) => {
    if (!visible(el) && el.type !== "checkbox") { return; }
    const labelled =
      (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
      el.closest("label") ||
      (el.getAttribute("aria-label") || "").trim() ||
      (el.getAttribute("aria-labelledby") &&
        el.getAttribute("aria-labelledby").split(/\s+/).every((id) => document.getElementById(id))) ||
      (el.getAttribute("title") || "").trim();
    if (!labelled) { problems.push(`no label: ${describe(el)}`); }
    if (el.getAttribute("aria-invalid") === "true") {
      const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (!ids.length || !ids.every((id) => document.getElementById(id))) {
        problems.push(`invalid field without its error: ${describe(el)}`);
      }
    }
    const kind = (el.getAttribute("type") || "").toLowerCase();
    if ((kind === "email" || kind === "password") && !el.getAttribute("autocomplete")) {
      problems.push(`no autocomplete: ${describe(el)}`);
    }
  });
  // Field errors shown next to a field must be announced with it.
  document.querySelectorAll(".field-error").forEach((el) => {
    if (!el.id || !document.querySelector(`[aria-describedby~="${CSS.escape(el.id)}"]`)) {
      problems.push(`field error tied to no field: ${describe(el)}`);
    }
  });

  if (options.skipLink) {
    const first = document.querySelector("body a[href], body button, body input, body select");
    const href = first && first.getAttribute("href");
    if (!href || !href.startsWith("#") || !document.getElementById(href.slice(1))) {
      problems.push("no skip link to the main content first in the page");
    }
  }
  const card = document.getElementById("session-status");
  if (card && !["polite", "assertive"].includes(card.getAttribute("aria-live"))) {
    problems.push("the status card is not aria-live");
  }

  // Contrast.
  const parse = (value) => {
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (!m) { return null; }
    const parts = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color && color.a > 0) {
        layers.push(color);
        if (color.a >= 1) { break; }
      }
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i -= 1) { result = blend(layers[i], result); }
    return result;
  };
  const luminance = (c) => {
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const el = text.parentElement;
    if (!el || seen.has(el) || !text.textContent.trim() || !visible(el)) { continue; }
    if (el.closest("script, style, noscript, [aria-hidden=true]")) { continue; }
    seen.add(el);
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    if (!fg) { continue; }
    const bg = background(el);
    const front = fg.a < 1 ? blend(fg, bg) : fg;
    const [light, dark] = [luminance(front), luminance(bg)].sort((x, y) => y - x);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) {
      problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${describe(el)} (${style.color} on rgb(${Math.round(bg.r)},${Math.round(bg.g)},${Math.round(bg.b)}))`);
    }
  }
  return problems;
}
