// cmrseg run report: inlined into report.html by cmrseg.report.html. Sortable tables and slice viewers.
// When everything is set up, <body> gets data-ready="1" (tests and scripts wait for it), data-viewers (slice
// viewers wired) and data-broken-images (images that failed to decode; 0 on a sound page).
(() => {
  "use strict";

  // A cell's sort key: the number in data-v ("" = missing, sorts last), else its text.
  const key = (row, col) => {
    const c = row.cells[col];
    if (!c) return "";
    if (c.dataset.v === undefined) return c.textContent.trim();
    return c.dataset.v === "" ? NaN : parseFloat(c.dataset.v);
  };

  const sortBy = (th) => {
    const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    const asc = th.dataset.dir !== "asc";
    th.parentNode.querySelectorAll("th").forEach((h) => { delete h.dataset.dir; h.removeAttribute("aria-sort"); });
    th.dataset.dir = asc ? "asc" : "desc";
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    const rows = [...body.rows];
    rows.sort((a, b) => {
      const x = key(a, col), y = key(b, col);
      if (typeof x === "number" && typeof y === "number") {
        if (isNaN(x)) return isNaN(y) ? 0 : 1;
        if (isNaN(y)) return -1;
        return asc ? x - y : y - x;
      }
      return (asc ? 1 : -1) * String(x).localeCompare(String(y), undefined, {numeric: true});
    });
    rows.forEach((r) => body.appendChild(r));
  };

  document.querySelectorAll("table.sortable thead th").forEach((th) => {
    th.tabIndex = 0;
    th.title = "sort by this column (click again to reverse)";
    th.addEventListener("click", () => sortBy(th));
    th.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });

  let viewers = 0;
  document.querySelectorAll(".viewer").forEach((v) => {
    const frames = [...v.querySelectorAll("img.frame")];
    const slider = v.querySelector("input[type=range]"), caption = v.querySelector(".z");
    if (!frames.length || !slider) return;
    const show = () => {
      const k = Math.min(frames.length - 1, Math.max(0, parseInt(slider.value, 10) || 0));
      frames.forEach((im, j) => { im.hidden = j !== k; });
      if (caption) caption.textContent = frames[k].dataset.z || "";
      v.dataset.shown = String(k);
    };
    slider.addEventListener("input", show);
    show();
    viewers += 1;
  });

  const finish = () => {
    const broken = [...document.images].filter((im) => im.complete && im.naturalWidth === 0).length;
    document.body.dataset.viewers = String(viewers);
    document.body.dataset.brokenImages = String(broken);
    document.body.dataset.ready = "1";
  };
  if (document.readyState === "complete") finish(); else window.addEventListener("load", finish);
})();
