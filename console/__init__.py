"""The web console for supervisors, senders and maintainers: a sub-application mounted under
`/console/` (`console.app.create_app`). Server-rendered pages, sessions in encrypted cookies,
CSRF on every form, every page checks the role and the department scope on the server. Imports
`domain`, `models` and `web`; never `bot` or another face."""
