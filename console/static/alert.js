// Alert detail: draws the tally with Chart.js and keeps it current from the server-sent
// events of /console/alerts/{id}/events, without reloading the page.
(function () {
  "use strict";
  var section = document.getElementById("tally");
  if (!section || typeof Chart === "undefined") { return; }
  var data = JSON.parse(section.dataset.tally);
  var RED = "#c62828", GREY = "#8d99ae", LINE = "#8e1b1b";

  function colours(item) {
    return item.choices.map(function (c) { return item.worrying.indexOf(c) >= 0 ? RED : GREY; });
  }

  var itemCharts = [];
  document.querySelectorAll("canvas.item-chart").forEach(function (canvas) {
    var item = data.items[Number(canvas.dataset.index)];
    itemCharts.push(new Chart(canvas, {
      type: "bar",
      data: { labels: item.choices, datasets: [{ label: item.label, data: item.counts, backgroundColor: colours(item) }] },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    }));
  });

  var timelineCanvas = document.getElementById("timeline-chart");
  var timeline = timelineCanvas && new Chart(timelineCanvas, {
    type: "line",
    data: {
      labels: data.timeline.map(function (p) { return p.at; }),
      datasets: [{ label: "回答数", data: data.timeline.map(function (p) { return p.answered; }), borderColor: LINE, stepped: true }]
    },
    options: { animation: false, scales: { y: { beginAtZero: true, suggestedMax: data.total, ticks: { precision: 0 } } } }
  });

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(value); }
  }

  function cell(value, className) {
    var td = document.createElement("td");
    td.textContent = String(value);
    if (className) { td.className = className; }
    return td;
  }

  function update(next) {
    text("answered", next.answered);
    text("total", next.total);
    text("rate", next.rate.toFixed(1));
    text("unanswered-count", next.unanswered);
    next.items.forEach(function (item, i) {
      var chart = itemCharts[i];
      if (chart) { chart.data.datasets[0].data = item.counts; chart.update("none"); }
      var rows = document.querySelectorAll('table.item-table[data-index="' + i + '"] tbody tr');
      item.counts.forEach(function (n, j) {
        if (rows[j] && rows[j].cells[1]) { rows[j].cells[1].textContent = String(n); }
      });
    });
    if (timeline) {
      timeline.data.labels = next.timeline.map(function (p) { return p.at; });
      timeline.data.datasets[0].data = next.timeline.map(function (p) { return p.answered; });
      timeline.options.scales.y.suggestedMax = next.total;
      timeline.update("none");
    }
    var body = document.querySelector("#departments tbody");
    if (body) {
      var rows = next.departments.map(function (d) {
        var tr = document.createElement("tr");
        tr.appendChild(cell(d.name));
        tr.appendChild(cell(d.answered, "num"));
        tr.appendChild(cell(d.total, "num"));
        tr.appendChild(cell((d.total ? Math.round(100 * d.answered / d.total) : 0) + "%", "num"));
        d.worrying.forEach(function (n) { tr.appendChild(cell(n, n ? "num warn" : "num")); });
        return tr;
      });
      body.replaceChildren.apply(body, rows);
    }
  }

  if (window.EventSource && section.dataset.events) {
    var source = new EventSource(section.dataset.events);
    var live = document.getElementById("live");
    source.addEventListener("open", function () { if (live) { live.hidden = false; } });
    source.addEventListener("error", function () { if (live) { live.hidden = true; } });
    source.addEventListener("tally", function (event) { update(JSON.parse(event.data)); });
  }
}());
