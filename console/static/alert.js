// Alert detail: draws the tally with Chart.js and keeps it current from the server-sent
// events of /console/alerts/{id}/events, without reloading the page.
(function () {
  "use strict";
  var section = document.getElementById("tally");
  if (!section || typeof Chart === "undefined") { return; }
  var data = JSON.parse(section.dataset.tally);
  // The page's language: texts the server translated, with %(name)s filled in here.
  var TEXTS = JSON.parse(section.dataset.texts || "{}");
  function say(key, params) {
    return (TEXTS[key] || "").replace(/%\((\w+)\)s/g, function (_, name) { return String(params[name]); });
  }
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
      datasets: [{ label: say("answers", {}), data: data.timeline.map(function (p) { return p.answered; }), borderColor: LINE, stepped: true }]
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

  function para(className, value) {
    var p = document.createElement("p");
    p.className = className;
    if (value !== undefined) { p.textContent = value; }
    return p;
  }

  function person(row) {
    var li = document.createElement("li");
    var who = para("who");
    var name = document.createElement("strong");
    name.textContent = row.name;
    var meta = document.createElement("span");
    meta.className = "muted";
    var sep = say("separator", {});
    meta.textContent = row.code + sep + row.department + sep + row.at;
    who.append(name, " ", meta);
    li.appendChild(who);
    var choices = para("choices");
    row.choices.forEach(function (c) {
      var span = document.createElement("span");
      span.className = c[2] ? "choice warn" : "choice";
      span.textContent = c[0] + ": " + (c[1] || "-");
      choices.append(span, " ");
    });
    li.appendChild(choices);
    if (row.message) { li.appendChild(para("message", row.message)); }
    if (row.entered_by) { li.appendChild(para("muted", say("entered_by", { name: row.entered_by }))); }
    return li;
  }

  function updatePeople(people) {
    var list = document.getElementById("people");
    if (!list || !people) { return; }
    text("people-count", people.matched);
    var rows = people.rows.map(person);
    if (!rows.length) {
      var none = document.createElement("li");
      none.className = "muted none";
      none.textContent = say("none", {});
      rows.push(none);
    }
    list.replaceChildren.apply(list, rows);
  }

  function update(next) {
    text("answered", next.answered);
    text("total", next.total);
    text("rate", next.rate.toFixed(1));
    var bar = document.getElementById("rate-bar");
    if (bar) { bar.value = next.rate; bar.textContent = next.rate.toFixed(1) + "%"; }
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
        if (d.subtotal) { tr.className = "subtotal"; }
        tr.appendChild(cell(d.subtotal ? d.name + " " + say("subtotal", {}) : d.name));
        tr.appendChild(cell(d.answered, "num"));
        tr.appendChild(cell(d.total, "num"));
        tr.appendChild(cell((d.total ? Math.round(100 * d.answered / d.total) : 0) + "%", "num"));
        d.worrying.forEach(function (n) { tr.appendChild(cell(n, n ? "num warn" : "num")); });
        return tr;
      });
      body.replaceChildren.apply(body, rows);
    }
    updatePeople(next.people);
  }

  // 開始から …: the time since the start, kept current while the alert is open.
  var elapsed = document.getElementById("elapsed");
  function since(started) {
    var minutes = Math.max(0, Math.floor((Date.now() - started) / 60000));
    if (minutes < 60) { return say("minutes", { minutes: minutes }); }
    var hours = Math.floor(minutes / 60);
    if (hours < 24) { return say("hours", { hours: hours, minutes: minutes % 60 }); }
    return say("days", { days: Math.floor(hours / 24), hours: hours % 24 });
  }
  var clock = null;
  if (elapsed && elapsed.dataset.started) {
    var started = Date.parse(elapsed.dataset.started);
    clock = window.setInterval(function () { elapsed.textContent = say("since", {}) + " " + since(started); }, 30000);
  }

  if (window.EventSource && section.dataset.events) {
    var source = new EventSource(section.dataset.events);
    var live = document.getElementById("live");
    source.addEventListener("open", function () { if (live) { live.hidden = false; } });
    source.addEventListener("error", function () { if (live) { live.hidden = true; } });
    source.addEventListener("tally", function (event) {
      var next = JSON.parse(event.data);
      update(next);
      if (next.closed) {  // 終了: no more answers, so no more updates
        source.close();
        if (clock) { window.clearInterval(clock); }
        if (live) { live.hidden = true; }
        text("live-closed", say("closed", {}));
      }
    });
  }
}());
