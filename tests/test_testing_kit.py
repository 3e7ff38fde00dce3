"""notifications.testing serves the site's own ASGI application, configured through settings, not the environment."""

from __future__ import annotations

from django.test import override_settings

from notifications import notify
from notifications.testing import DaphneServer, open_socket, receive_frame, site_application, site_settings


def test_the_kit_starts_the_sites_own_application_on_the_test_database_and_redis(private_redis, alice) -> None:
    assert site_application() == "project.asgi:application"  # from ASGI_APPLICATION, as any site's would be
    # Nothing in the environment points the server anywhere: the settings overlay does.
    nowhere = {"DATABASE_URL": "sqlite:////nonexistent/nowhere.sqlite3", "REDIS_URL": "", "REDIS_AUTODETECT": "0"}
    server = DaphneServer.start(nowhere, settings=site_settings(private_redis))
    try:
        with open_socket(server, alice) as ws:
            receive_frame(ws, "hello")
            with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
                notify(alice, title="from the test process")
            assert receive_frame(ws, "notification")["notification"]["title"] == "from the test process"
            sent = server.manage("notify", "--user", alice.username, "--title", "from a command of the same site")
            assert sent.returncode == 0, sent.stderr
            assert receive_frame(ws, "notification")["notification"]["title"] == "from a command of the same site"
    finally:
        server.stop()
