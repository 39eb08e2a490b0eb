// Project pages: more category rows on the new-project form, and annotation overlays for
// images whose size the hub does not know. Both pages work without it.
"use strict";

// The form offers a few blank category rows; this button adds more.
function categoryRows() {
  const rows = document.querySelector("[data-category-rows]");
  const template = document.getElementById("category-row-template");
  const button = document.querySelector("[data-add-category]");
  if (!rows || !template || !button) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    rows.append(row);
    row.querySelector("input").focus();
  });
}

// An overlay is drawn in the image's pixels. When the asset's size was not recorded, the
// image's own size, known once it loads, gives the drawing its scale.
function overlays() {
  document.querySelectorAll("svg[data-overlay]:not([viewBox])").forEach((svg) => {
    const image = svg.parentElement.querySelector("img[data-overlay-image]");
    if (!image) return;
    const fit = () => {
      const width = image.naturalWidth;
      const height = image.naturalHeight;
      if (!width || !height) return;
      svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      const radius = Math.max(width, height) * Number(svg.dataset.pointShare);
      svg.querySelectorAll("[data-point]").forEach((dot) => dot.setAttribute("r", String(radius)));
      svg.hidden = false;
    };
    if (image.complete) fit();
    else image.addEventListener("load", fit);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  categoryRows();
  overlays();
});
