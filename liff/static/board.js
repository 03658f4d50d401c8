// The board of an alert (掲示板): the posts that reached this employee, their own replies, and
// a reply form where a post allows it. The server verifies the LIFF ID token on every call.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function call(base, path, options) {
    options = options || {};
    options.headers = Object.assign({}, options.headers || {}, {
      "Authorization": "Bearer " + liff.getIDToken(),
    });
    return fetch(base + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          throw new Error(body.message || ("エラーが発生しました (" + response.status + ")"));
        }
        return body;
      });
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function start(alertId, showError) {
    var section = $("board");
    var labels = section.dataset;
    var base = labels.api;

    function render(view) {
      $("loading").hidden = true;
      $("alert").hidden = true;
      section.hidden = false;
      $("board-title").textContent = view.alert.title;
      var list = $("board-posts");
      list.textContent = "";
      if (!view.posts.length) {
        list.appendChild(el("li", "muted", labels.empty));
      }
      view.posts.forEach(function (post) {
        var item = el("li");
        item.id = "post-" + post.id;
        item.appendChild(el("p", "who", post.author + " " + post.at));
        item.appendChild(el("p", "message", post.body));
        post.my_replies.forEach(function (reply) {
          var mine = el("div", "mine");
          mine.appendChild(el("p", "who", labels.myReply + " " + reply.at));
          mine.appendChild(el("p", "message", reply.body));
          item.appendChild(mine);
        });
        if (post.replies_allowed) {
          var form = el("form", "reply-form");
          var fieldId = "reply-" + post.id;
          var label = el("label", "block-label", labels.replyLabel);
          label.htmlFor = fieldId;
          var field = el("textarea");
          field.id = fieldId;
          field.name = "body";
          field.rows = 3;
          field.maxLength = 1000;
          var error = el("p", "error");
          error.hidden = true;
          error.setAttribute("role", "alert");
          var button = el("button", null, labels.replyLabel);
          button.type = "submit";
          form.appendChild(label);
          form.appendChild(field);
          form.appendChild(error);
          form.appendChild(button);
          form.addEventListener("submit", function (event) {
            event.preventDefault();
            button.disabled = true;
            call(base, "posts/" + post.id + "/reply", {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ body: field.value }),
            }).then(function (next) {
              render(next);
              $("board-done").textContent = labels.replied;
              $("board-done").hidden = false;
            }).catch(function (failure) {
              error.textContent = failure.message;
              error.hidden = false;
              button.disabled = false;
            });
          });
          item.appendChild(form);
        }
        list.appendChild(item);
      });
    }

    return call(base, alertId).then(render).catch(function (failure) {
      showError(failure.message || "掲示板を開けませんでした。");
    });
  }

  window.AnpiBoard = { start: start };
})();
