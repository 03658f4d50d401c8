"""The employee page's views: sign-in and password, the page and its settings, LINE ID連携."""
