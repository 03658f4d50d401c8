/*
 * LIFF SDK stand-in served by the local LINE platform (line_simulator).
 *
 * The simulator's LIFF host opens the app's endpoint URL like LINE's primary redirect:
 *   {endpoint}?liff.state=<url-encoded "/path?query">#sim_id_token=<ES256 ID token>
 * liff.init() keeps the token (sessionStorage, per LIFF ID), moves the page to the endpoint path
 * plus the state and removes the token from the address bar, then resolves.
 */
(function () {
  "use strict";

  var TOKEN_PARAM = "sim_id_token";
  var current = { liffId: null, token: null, claims: null };
  var resolveReady;
  var ready = new Promise(function (resolve) {
    resolveReady = resolve;
  });

  function storageKey(liffId) {
    return "line_simulator.id_token." + liffId;
  }

  function readStorage(liffId) {
    try {
      return window.sessionStorage.getItem(storageKey(liffId));
    } catch (e) {
      return null;
    }
  }

  function writeStorage(liffId, token) {
    try {
      window.sessionStorage.setItem(storageKey(liffId), token);
    } catch (e) {
      /* storage may be unavailable; the token stays in memory */
    }
  }

  function tokenFromHash() {
    var hash = window.location.hash.replace(/^#/, "");
    return hash ? new URLSearchParams(hash).get(TOKEN_PARAM) : null;
  }

  function decodeClaims(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) {
        part += "=";
      }
      var binary = window.atob(part);
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i += 1) {
        bytes[i] = binary.charCodeAt(i);
      }
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  /* Where the page should be once initialised: endpoint path + liff.state, no token fragment. */
  function settledLocation() {
    var url = new URL(window.location.href);
    var state = url.searchParams.get("liff.state");
    if (state !== null) {
      if (state.charAt(0) === "/") {
        return url.pathname.replace(/\/$/, "") + state;
      }
      return url.pathname + state;
    }
    var hasToken = tokenFromHash() !== null;
    return url.pathname + url.search + (hasToken ? "" : url.hash);
  }

  function settle() {
    var here = window.location.pathname + window.location.search + window.location.hash;
    var next = settledLocation();
    if (next !== here) {
      window.history.replaceState(window.history.state, "", next);
    }
  }

  function requireInit() {
    if (!current.token) {
      throw new Error("LIFFが初期化されていません。liff.init() を先に呼んでください。");
    }
  }

  function detectOS() {
    var ua = window.navigator.userAgent || "";
    if (/android/i.test(ua)) {
      return "android";
    }
    if (/iphone|ipad|ipod/i.test(ua)) {
      return "ios";
    }
    return "web";
  }

  var liff = {
    id: null,
    ready: ready,
    init: function (config) {
      if (!config || !config.liffId) {
        return Promise.reject(new Error("LIFF IDが指定されていません。"));
      }
      var token = tokenFromHash() || readStorage(config.liffId);
      if (!token) {
        return Promise.reject(
          new Error("ログイン情報がありません。LINEのトークからもう一度開いてください。")
        );
      }
      var claims = decodeClaims(token);
      if (!claims) {
        return Promise.reject(
          new Error("ログイン情報が読み取れません。LINEのトークからもう一度開いてください。")
        );
      }
      writeStorage(config.liffId, token);
      current = { liffId: config.liffId, token: token, claims: claims };
      liff.id = config.liffId;
      settle();
      resolveReady();
      return Promise.resolve();
    },
    isLoggedIn: function () {
      return current.token !== null;
    },
    isInClient: function () {
      return true;
    },
    login: function () {
      /* In LINE's in-app browser the user is always logged in. */
    },
    logout: function () {
      if (current.liffId) {
        try {
          window.sessionStorage.removeItem(storageKey(current.liffId));
        } catch (e) {
          /* nothing to remove */
        }
      }
      current = { liffId: current.liffId, token: null, claims: null };
    },
    getIDToken: function () {
      return current.token;
    },
    getDecodedIDToken: function () {
      return current.claims;
    },
    getAccessToken: function () {
      return null;
    },
    getProfile: function () {
      requireInit();
      return Promise.resolve({
        userId: current.claims.sub,
        displayName: current.claims.name || "",
      });
    },
    getContext: function () {
      if (!current.claims) {
        return null;
      }
      return {
        type: "utou",
        userId: current.claims.sub,
        liffId: current.liffId,
        viewType: "full",
        endpointUrl: window.location.origin + window.location.pathname,
        accessTokenHash: null,
        availability: {},
        scope: ["openid", "profile"],
        menuColorSetting: null,
      };
    },
    getOS: function () {
      return detectOS();
    },
    getLanguage: function () {
      return window.navigator.language || "ja";
    },
    getAppLanguage: function () {
      return "ja";
    },
    getVersion: function () {
      return "2.0.0-line-simulator";
    },
    getLineVersion: function () {
      return "14.0.0";
    },
    isApiAvailable: function () {
      return false;
    },
    openWindow: function (params) {
      window.location.href = params.url;
    },
    closeWindow: function () {
      window.close();
      window.setTimeout(function () {
        if (!window.closed) {
          document.body.innerHTML =
            "<p style=\"padding:1em\">このページを閉じて、LINEのトークに戻ってください。</p>";
        }
      }, 200);
    },
    sendMessages: function () {
      return Promise.reject(new Error("シミュレーターでは sendMessages は使えません。"));
    },
    shareTargetPicker: function () {
      return Promise.reject(new Error("シミュレーターでは shareTargetPicker は使えません。"));
    },
    scanCodeV2: function () {
      return Promise.reject(new Error("シミュレーターでは scanCodeV2 は使えません。"));
    },
    permanentLink: {
      createUrlBy: function (url) {
        return Promise.resolve(url);
      },
    },
    use: function () {
      return liff;
    },
  };

  window.liff = liff;
})();
