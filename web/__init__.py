"""Shared web plumbing the faces use: typed app keys and the settings they carry, CSRF,
JSON error bodies (domain errors mapped to HTTP), security headers, and LINE Login's
ID-token verification (tokens LINE already accepted are remembered until they expire).
Imports `domain` (to map its errors) and `models`; never a face or `bot`."""
