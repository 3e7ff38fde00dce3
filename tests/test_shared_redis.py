"""Two sites on one Redis server, with the same key prefix and the same user ids, do not hear each other."""

from __future__ import annotations

import pytest
from django.test import override_settings

from notifications import notify
from notifications.testing import open_socket, receive_frame, session_cookie
from tests.conftest import start_daphne

OTHER_SITE_KEY = "another-site-secret-key-of-some-length"


@pytest.fixture
def two_sites(private_redis):
    """This site (the test settings' SECRET_KEY) and another one, alike in all but their SECRET_KEY."""
    limit = {"MAX_CONNECTIONS_PER_USER": 1}
    ours = start_daphne(private_redis, notifications=limit)
    theirs = start_daphne(private_redis, notifications=limit, env={"SECRET_KEY": OTHER_SITE_KEY})
    yield ours, theirs
    ours.stop()
    theirs.stop()


def test_two_sites_on_one_redis_keep_their_frames_and_connection_counts_apart(two_sites, private_redis, alice) -> None:
    ours, theirs = two_sites
    with override_settings(SECRET_KEY=OTHER_SITE_KEY):
        their_cookie = session_cookie(alice)  # a login the other site accepts
    with open_socket(ours, alice) as here:
        receive_frame(here, "hello")
        # alice of the other site has the same user id; the limit of one socket per user is per site.
        with open_socket(theirs, headers={"Cookie": their_cookie}) as there:
            receive_frame(there, "hello")
            with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
                notify(alice, title="for this site's alice")
            assert receive_frame(here, "notification")["notification"]["title"] == "for this site's alice"
            # The other site's own send is the next thing its alice receives: ours never reached her.
            sent = theirs.manage("notify", "--user", alice.username, "--title", "for the other site's alice")
            assert sent.returncode == 0, sent.stderr
            assert receive_frame(there, "notification")["notification"]["title"] == "for the other site's alice"
