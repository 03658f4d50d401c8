// The answer form: LIFF gives us an ID token; the server verifies it and finds the employee.
// Every text comes translated from the page (#texts, one set per language): the phone's
// language (liff.getLanguage()) first, the employee's own once the alert says it.
(function () {
  "use strict";
  var app = document.getElementById("app");
  var apiBase = app.dataset.api;
  var allTexts = JSON.parse(document.getElementById("texts").textContent);
  var state = { alertId: null, alert: null, editing: false, language: "ja", reported: "" };

  function $(id) { return document.getElementById(id); }

  function t(key, params) {
    var text = (allTexts[state.language] || allTexts.ja)[key];
    Object.keys(params || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(params[name]);
    });
    return text;
  }

  function speak(tag) {
    var language = String(tag || "").toLowerCase().split(/[-_]/)[0];
    state.language = allTexts[language] ? language : "ja";
    document.documentElement.lang = state.language;
    document.querySelectorAll("[data-text]").forEach(function (element) {
      element.textContent = t(element.dataset.text);
    });
  }

  function showError(message) {
    $("loading").hidden = true;
    $("error").textContent = message;
    $("error").hidden = false;
  }

  // After liff.init() the page is at endpoint + "?alert=N"; before a redirect it may still
  // carry LINE's liff.state parameter. Handle both.
  function alertIdFromLocation(name) {
    name = name || "alert";
    var params = new URLSearchParams(window.location.search);
    var id = params.get(name);
    if (!id && params.get("liff.state")) {
      var stateValue = params.get("liff.state");
      var query = stateValue.indexOf("?") >= 0 ? stateValue.slice(stateValue.indexOf("?")) : "";
      id = new URLSearchParams(query).get(name);
    }
    return id && /^\d+$/.test(id) ? id : null;
  }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({}, options.headers || {}, {
      "Authorization": "Bearer " + liff.getIDToken(),
      "X-Liff-Language": state.reported,
    });
    return fetch(apiBase + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = new Error(body.message || t("error", { status: response.status }));
          error.fields = body.fields || {};
          throw error;
        }
        return body;
      });
    });
  }

  function renderItems(items, choices) {
    var container = $("items");
    container.textContent = "";
    items.forEach(function (item, index) {
      var fieldset = document.createElement("fieldset");
      fieldset.dataset.label = item.label;
      var legend = document.createElement("legend");
      legend.textContent = item.text;
      if (item.required !== false) {
        var req = document.createElement("span");
        req.className = "req";
        req.textContent = t("required");
        legend.appendChild(req);
      }
      fieldset.appendChild(legend);
      item.choices.forEach(function (choice, choiceIndex) {
        var label = document.createElement("label");
        label.className = "choice";
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "item-" + index;
        input.value = choice;  // what is stored, whatever language the text is in
        input.id = "item-" + index + "-" + choiceIndex;
        if (choices && choices[item.label] === choice) { input.checked = true; }
        label.appendChild(input);
        label.appendChild(document.createTextNode(item.choice_texts[choiceIndex]));
        fieldset.appendChild(label);
      });
      container.appendChild(fieldset);
    });
  }

  function renderSaved(view) {
    var list = $("saved-choices");
    list.textContent = "";
    var lines = view.alert.confirm_only
      ? [view.alert.submit_label]
      : view.alert.items.map(function (item) {
          return item.text + ": " + (view.answer.shown_choices[item.label] || "-");
        });
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      list.appendChild(li);
    });
    $("answered_at").textContent = "(" + view.answer.answered_at + ")";
    $("saved-message").textContent = view.answer.message;
    $("saved-message").hidden = !view.answer.message;
  }

  // Answered: the saved answer is shown, the form only when asked for (回答を修正する).
  function render(view) {
    speak(view.language);
    state.alert = view.alert;
    var answered = !!view.answer;
    var closed = view.alert.closed;
    $("loading").hidden = true;
    $("alert").hidden = false;
    $("started_at").textContent = view.alert.started_at;
    $("title").textContent = view.alert.title;
    $("sender").textContent = view.alert.sender;
    $("alert-message").textContent = view.alert.message;
    $("status").textContent = view.status;
    $("status").className = answered ? "answered" : "unanswered";
    $("submit").textContent = view.alert.submit_label;
    $("questions").hidden = view.alert.confirm_only;
    renderItems(view.alert.items, view.answer && view.answer.choices);
    $("message").value = answered ? view.answer.message : "";
    $("saved").hidden = !answered;
    if (answered) { renderSaved(view); }
    $("edit").hidden = closed || view.alert.confirm_only;
    $("answer-form").hidden = closed || (answered && !state.editing);
    $("closed").hidden = !closed;
    if (answered) { loadFamily(); } else { $("family").hidden = true; }
  }

  // The employee's family (alerts with family on), after their own answer: each member's
  // answer, and a form to answer for them. Only their own family: the server decides.
  function renderFamily(family) {
    var section = $("family");
    var list = $("family-members");
    list.textContent = "";
    section.hidden = !family.members.length;
    var template = $("family-member-template");
    family.members.forEach(function (member) {
      var form = template.content.firstElementChild.cloneNode(true);
      form.id = "family-member-" + member.id;
      form.querySelector(".family-name").textContent = member.name + "(" + member.relation + ")";
      var current = member.status_label + (member.answered_at ? " (" + member.answered_at + ")" : "");
      if (member.by_employee) { current += " " + section.dataset.byEmployee; }
      form.querySelector(".family-current").textContent = current;
      var choices = form.querySelector(".family-choices");
      family.statuses.forEach(function (status) {
        var label = document.createElement("label");
        label.className = "choice";
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "family-status-" + member.id;
        input.value = status.value;
        input.id = "family-" + member.id + "-" + status.value;
        input.checked = member.status === status.value;
        label.appendChild(input);
        label.appendChild(document.createTextNode(status.label));
        choices.appendChild(label);
      });
      var message = form.querySelector(".family-message");
      message.id = "family-message-" + member.id;
      message.value = member.message || "";
      form.querySelector(".family-message-label").htmlFor = message.id;
      form.addEventListener("submit", function (event) { submitFamily(event, member.id, form); });
      list.appendChild(form);
    });
  }

  function loadFamily() {
    if (!state.alert || state.alert.closed) { $("family").hidden = true; return; }
    return api(state.alertId + "/family").then(renderFamily).catch(function (error) {
      $("family-error").textContent = error.message;
      $("family-error").hidden = false;
    });
  }

  function submitFamily(event, memberId, form) {
    event.preventDefault();
    $("family-error").hidden = true;
    var checked = form.querySelector("input[type=radio]:checked");
    var button = form.querySelector(".family-submit");
    button.disabled = true;
    api(state.alertId + "/family", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        member_id: memberId,
        status: checked ? checked.value : "",
        message: form.querySelector(".family-message").value,
      }),
    }).then(function (family) {
      renderFamily(family);
      $("family-member-" + memberId).querySelector(".family-done").hidden = false;
    }).catch(function (error) {
      $("family-error").textContent = error.message;
      $("family-error").hidden = false;
      button.disabled = false;
    });
  }

  function collect() {
    var choices = {};
    state.alert.items.forEach(function (item, index) {
      var checked = document.querySelector('input[name="item-' + index + '"]:checked');
      if (checked) { choices[item.label] = checked.value; }
    });
    return { choices: choices, message: $("message").value };
  }

  function markInvalid(fields) {
    document.querySelectorAll("#items fieldset").forEach(function (fieldset) {
      fieldset.classList.toggle("invalid", Object.prototype.hasOwnProperty.call(fields, fieldset.dataset.label));
    });
  }

  function missingRequired(answer) {
    var fields = {};
    state.alert.items.forEach(function (item) {
      if (item.required !== false && !answer.choices[item.label]) {
        fields[item.label] = t("choose", { label: item.text });
      }
    });
    return fields;
  }

  function submit(event) {
    event.preventDefault();
    $("form-error").hidden = true;
    $("done").hidden = true;
    var answer = collect();
    var missing = missingRequired(answer);
    markInvalid(missing);
    if (Object.keys(missing).length) {
      $("form-error").textContent = Object.values(missing).join(" ");
      $("form-error").hidden = false;
      return;
    }
    $("submit").disabled = true;
    api(state.alertId + "/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(answer),
    }).then(function (saved) {
      // The reply holds the status and the saved answer; the alert is the one on screen.
      var view = { language: saved.language, alert: state.alert, status: saved.status, answer: saved.answer };
      state.editing = false;
      render(view);
      $("done").textContent = view.alert.confirm_only ? t("sent_confirm") : t("sent_answer");
      $("done").hidden = false;
      $("saved").scrollIntoView();
    }).catch(function (error) {
      markInvalid(error.fields || {});
      $("form-error").textContent = error.message;
      $("form-error").hidden = false;
    }).then(function () {
      $("submit").disabled = false;
    });
  }

  $("answer-form").addEventListener("submit", submit);
  $("close").addEventListener("click", function () { liff.closeWindow(); });
  $("edit").addEventListener("click", function () {
    state.editing = true;
    $("done").hidden = true;
    $("edit").hidden = true;
    $("answer-form").hidden = false;
    $("answer-form").scrollIntoView();
  });

  liff.init({ liffId: app.dataset.liffId }).then(function () {
    state.reported = (liff.getLanguage && liff.getLanguage()) || "";
    speak(state.reported);
    if (!liff.isLoggedIn()) {
      liff.login();
      return;
    }
    var boardId = alertIdFromLocation("board");
    if (boardId) {  // a board link (?board=N): board.js shows it
      return window.AnpiBoard.start(boardId, showError);
    }
    state.alertId = alertIdFromLocation();
    if (!state.alertId) {
      showError(t("no_alert"));
      return;
    }
    return api(state.alertId).then(render);
  }).catch(function (error) {
    showError(error.message || t("open_failed"));
  });
})();
