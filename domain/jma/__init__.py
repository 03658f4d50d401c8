"""Automatic alerts from JMA's 防災情報XML: parsing bulletins safely, the rules maintainers
edit, and what a bulletin does (start an alert, wait, suppress an aftershock, tell the admin
groups). The feed is fetched by `bot/jma_watch.py`; everything it decides lives here."""
