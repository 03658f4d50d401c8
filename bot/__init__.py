"""The Anpi server: app factory, configuration, webhook and inbox, event handlers, account
linking, alerts and their delivery, and the command line."""
