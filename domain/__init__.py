"""Every rule of the product, once, as plain async functions that every face calls
(webhook handlers, LIFF API, link pages, CLI, demo): the organisation, registration codes and
linking, alerts, answers, the delivery engine, the tally, the webhook inbox, the notifier and
the domain errors. Imports `models`; never a face, never `aiohttp.web`."""
