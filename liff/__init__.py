"""The LIFF answer app: the form page, its script, and the JSON API it calls with the
user's LINE ID token (verified on the server; a user ID from the browser is never trusted);
and the plain answer page an e-mail's signed link opens (`/liff/answer/{token}`, no LIFF).
A sub-application (`liff.app.create_app`) mounted under `/liff/`; it imports `domain`,
`models` and `web`, never `bot` or another face."""
