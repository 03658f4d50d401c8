"""Shared web plumbing the faces use: typed app keys and the settings they carry, CSRF,
sessions that end when idle, the sign-in flow (per-address limit, then the domain's sign-in,
429 with Retry-After), domain errors mapped to HTTP once (JSON bodies and each face's HTML
error page), security headers, and LINE Login's ID-token verification (tokens LINE already
accepted are remembered until they expire). Imports `domain` (to map its errors) and
`models`; never a face or `bot`."""
