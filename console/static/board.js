// The board page: when the live stream says a post or reply arrived, fetch the thread again
// (the server renders only what this viewer may see).
(function () {
  "use strict";
  var section = document.getElementById("board-thread");
  if (!section || !window.EventSource) { return; }
  var thread = document.getElementById("thread");
  var live = document.getElementById("board-live");
  var source = new EventSource(section.dataset.events);
  source.addEventListener("open", function () { live.hidden = false; });
  source.addEventListener("error", function () { live.hidden = true; });
  source.addEventListener("board", function () {
    fetch(section.dataset.thread, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) { thread.innerHTML = html; }).catch(function () {});
  });
}());
