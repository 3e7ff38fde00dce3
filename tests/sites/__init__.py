"""Site modules (ASGI applications, URL confs) shaped like other sites', for the wiring checks."""
