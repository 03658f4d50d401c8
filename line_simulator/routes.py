"""The simulator's route table: every host role LINE plays, on one application."""

from __future__ import annotations

from aiohttp import web

from line_simulator import (
    account_link,
    channel_tokens,
    chat,
    groups,
    liff_host,
    login,
    messaging,
    richmenu,
)  # fmt: skip

ROUTES = [
    # api.line.me / api-data.line.me: Messaging API
    web.post("/v2/bot/message/reply", messaging.reply_message, name="reply"),
    web.post("/v2/bot/message/push", messaging.push_message, name="push"),
    web.post("/v2/bot/message/multicast", messaging.multicast_message, name="multicast"),
    web.get("/v2/bot/message/quota", messaging.get_quota, name="quota"),
    web.get(
        "/v2/bot/message/quota/consumption", messaging.get_quota_consumption, name="consumption"
    ),
    web.get("/v2/bot/profile/{user_id}", messaging.get_profile, name="profile"),
    web.post("/v2/bot/user/{user_id}/linkToken", messaging.issue_link_token, name="link_token"),
    *richmenu.ROUTES,
    *groups.ROUTES,
    web.route("*", "/v2/{tail:.*}", messaging.not_found, name="v2_not_found"),
    # api.line.me: channel access tokens
    web.post("/oauth2/v3/token", channel_tokens.issue_stateless, name="stateless_token"),
    # api.line.me / access.line.me: LINE Login
    web.get("/oauth2/v2.1/authorize", login.authorize, name="authorize"),
    web.post("/oauth2/v2.1/authorize", login.consent, name="authorize_consent"),
    web.post("/oauth2/v2.1/token", login.token, name="token"),
    web.post("/oauth2/v2.1/verify", login.verify, name="verify"),
    web.get("/oauth2/v2.1/certs", login.certs, name="certs"),
    web.get("/dialog/bot/accountLink", account_link.account_link_dialog, name="account_link"),
    # liff.line.me
    web.get("/liff/sdk.js", liff_host.sdk, name="liff_sdk"),
    web.get("/liff/{liff_id}", liff_host.open_liff, name="liff"),
    web.get("/liff/{liff_id}/{path:.*}", liff_host.open_liff, name="liff_path"),
    web.get("/_sim/open", liff_host.open_as, name="open_as"),
    # the simulated phones
    web.get("/", chat.index, name="index"),
    web.post("/_sim/users", chat.add_user, name="add_user"),
    web.get("/_sim/chat/{user_id}", chat.chat_page, name="chat"),
    web.post("/_sim/chat/{user_id}/send", chat.send_text, name="chat_send"),
    web.post("/_sim/chat/{user_id}/postback", chat.send_postback, name="chat_postback"),
    web.post("/_sim/chat/{user_id}/follow", chat.follow, name="chat_follow"),
    web.post("/_sim/chat/{user_id}/unfollow", chat.unfollow, name="chat_unfollow"),
]
