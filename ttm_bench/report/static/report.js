// The report's gallery: filter by split, sort by the largest per-sample difference between two
// runs, and play/pause each row's videos together. Rows carry their values as JSON in
// data-values (one object per run: metric -> value); nothing is fetched.
"use strict";
(() => {
  const list = document.getElementById("gallery-rows");
  if (!list) return;
  const rows = [...list.querySelectorAll("article.sample")];
  const control = (id) => document.getElementById(id);
  const [split, mode, runA, runB, metric] =
    ["split-filter", "sort-mode", "run-a", "run-b", "sort-metric"].map(control);
  const values = new Map(rows.map((row) => [row, JSON.parse(row.dataset.values)]));

  // |A − B| of the chosen metric on one sample; null when either run has no value.
  function difference(row) {
    const cells = values.get(row);
    const a = cells[Number(runA.value)][metric.value];
    const b = cells[Number(runB.value)][metric.value];
    return typeof a === "number" && typeof b === "number" ? Math.abs(a - b) : null;
  }

  function apply() {
    const byDifference = mode.value === "difference";
    const keyed = rows.map((row) => [row, difference(row)]);
    keyed.sort(([p, dp], [q, dq]) => {
      if (byDifference && dp !== dq) {
        if (dp === null) return 1;
        if (dq === null) return -1;
        return dq - dp;
      }
      return Number(p.dataset.index) - Number(q.dataset.index);
    });
    let shown = 0;
    for (const [row, d] of keyed) {
      list.appendChild(row);
      row.hidden = split.value !== "" && row.dataset.split !== split.value;
      shown += row.hidden ? 0 : 1;
      const label = row.querySelector(".difference");
      label.hidden = !byDifference;
      label.textContent = d === null ? "|A − B|: —" : `|A − B| = ${d.toPrecision(4)}`;
    }
    control("shown-count").textContent = `${shown} of ${rows.length} samples`;
  }

  // Playback: a row's videos load when the row comes near the screen and are released when it
  // leaves (so a long gallery never holds more players than a screenful), start and pause
  // together from the row's button, and stay in step.
  const videosOf = (row) => [...row.querySelectorAll("video")];
  const wanted = new Map(rows.map((row) => [row, true]));  // playing unless the user paused
  const near = new Set();
  function refresh(row) {
    const play = wanted.get(row) && near.has(row);
    for (const video of videosOf(row)) {
      if (near.has(row) && !video.getAttribute("src")) video.src = video.dataset.src;
      if (!near.has(row) && video.getAttribute("src")) {
        video.removeAttribute("src");
        video.load();
      } else if (play) {
        video.play().catch(() => {});
      } else {
        video.pause();
      }
    }
    row.querySelector("button.toggle").textContent = wanted.get(row) ? "Pause" : "Play";
  }
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) near.add(entry.target); else near.delete(entry.target);
      refresh(entry.target);
    }
  }, {rootMargin: "50% 0px"});
  for (const row of rows) {
    const videos = videosOf(row);
    const button = row.querySelector("button.toggle");
    if (videos.length === 0) { button.hidden = true; continue; }
    button.addEventListener("click", () => { wanted.set(row, !wanted.get(row)); refresh(row); });
    const lead = videos[0];
    lead.addEventListener("timeupdate", () => {
      for (const other of videos.slice(1)) {  // distance on the loop: 0.95 s and 0.02 s are close
        const apart = Math.abs(other.currentTime - lead.currentTime);
        if (Math.min(apart, (lead.duration || Infinity) - apart) > 0.15) {
          other.currentTime = lead.currentTime;
        }
      }
    });
    observer.observe(row);
  }
  const playAll = control("play-all");
  playAll.addEventListener("click", () => {
    const playing = playAll.textContent === "Play all";
    for (const row of rows) { wanted.set(row, playing); refresh(row); }
    playAll.textContent = playing ? "Pause all" : "Play all";
  });

  for (const select of [split, mode, runA, runB, metric]) {
    select.addEventListener("change", apply);
  }
  apply();
})();
