"""The admin composer, lists and bulk actions, and who may use them."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from notifications import EVERYONE, notify, services
from notifications.models import Audience, Delivery, Notification
from notifications.testing import DaphneServer, open_socket, receive_frame

pytestmark = pytest.mark.django_db

COMPOSE = "/admin/live_notifications/notification/add/"


@pytest.fixture
def admin_user(transactional_db) -> User:
    return User.objects.create_superuser("root", password="pw")


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def compose(client: Client, **fields) -> object:
    data = {"audience": "users", "title": "Hello", "body": "", "level": "info", "url": "", "kind": "", **fields}
    return client.post(COMPOSE, data, follow=True)


def test_composer_sends_live_and_reports_the_recipient_count(daphne: DaphneServer, admin_client, alice, bob) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        response = compose(admin_client, users=[alice.pk, bob.pk], title="From the admin", level="warning")
        assert "Sent to 2 recipients." in response.content.decode()
        frame = receive_frame(ws, "notification")
    assert frame["notification"]["title"] == "From the admin"
    sent = Notification.objects.get()
    assert sent.sender.username == "root"
    assert sent.level == "warning"


def test_composer_sends_to_a_group_or_everyone(admin_client, alice, bob, carol, staff) -> None:
    compose(admin_client, audience="group", group=staff.pk, title="Staff")
    compose(admin_client, audience="everyone", title="All")
    staff_send, everyone_send = Notification.objects.order_by("pk")
    assert staff_send.audience == Audience.GROUP
    assert set(staff_send.deliveries.values_list("user__username", flat=True)) == {"alice", "bob"}
    assert everyone_send.deliveries.count() == 4  # alice, bob, carol and the admin


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"users": []}, "Choose at least one user."),
        ({"audience": "group"}, "Choose a group."),
        ({"url": "javascript:alert(1)"}, "scheme"),
        ({"title": ""}, "This field is required."),
    ],
)
def test_composer_shows_errors_and_sends_nothing(admin_client, alice, fields, error) -> None:
    response = compose(admin_client, **{"users": [alice.pk], **fields})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Notification.objects.exists()


def test_non_staff_get_the_admin_login_and_staff_without_permission_get_403(client, alice) -> None:
    client.force_login(alice)
    response = client.get(COMPOSE)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    alice.is_staff = True
    alice.save()
    assert client.get(COMPOSE).status_code == 403
    alice.user_permissions.add(Permission.objects.get(codename="add_notification"))
    assert client.get(COMPOSE).status_code == 200


def test_sent_notifications_are_read_only(admin_client, alice) -> None:
    sent = notify(alice, title="Fixed")
    url = f"/admin/live_notifications/notification/{sent.pk}/change/"
    assert "Fixed" in admin_client.get(url).content.decode()
    assert admin_client.post(url, {"title": "Edited"}).status_code == 403
    assert Notification.objects.get().title == "Fixed"


def test_changelist_queries_do_not_grow_with_rows(admin_client, alice, bob, staff) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/live_notifications/notification/").status_code == 200
        return len(captured)

    notify(staff, title="one", sender=alice)
    few = queries()
    for i in range(10):
        notify([alice, bob], title=f"n{i}", sender=bob)
        notify(EVERYONE, title=f"e{i}")
    assert queries() == few


def test_changelist_shows_counts_and_searches_recipients(admin_client, alice, bob, carol) -> None:
    sent = notify([alice, bob], title="Counted")
    notify(carol, title="Carol only")
    services.mark_read(alice, [sent.pk])
    page = admin_client.get("/admin/live_notifications/notification/").content.decode()
    assert "Chosen users" in page
    assert f"?notification__id__exact={sent.pk}" in page
    found = admin_client.get("/admin/live_notifications/notification/?q=carol").content.decode()
    assert "Carol only" in found
    assert "Counted" not in found


@pytest.mark.parametrize("search", ["", "?q=Deploy", "?q=alice"])
def test_recipient_and_read_counts_do_not_depend_on_the_search(admin_client, alice, bob, carol, staff, search) -> None:
    staff.user_set.add(carol)
    sent = notify(staff, title="Deploy at 17:00")
    services.mark_read(alice, [sent.pk])
    page = admin_client.get(f"/admin/live_notifications/notification/{search}").content.decode()
    assert f'?notification__id__exact={sent.pk}">3</a>' in page
    assert '<td class="field-read">1</td>' in page


def test_deleting_in_the_admin_retracts_live_from_every_recipient(
    daphne: DaphneServer, admin_client, alice, bob, carol, staff
) -> None:
    mine = notify(alice, title="Only alice")
    chosen = notify([alice, carol], title="Alice and carol")
    group = notify(staff, title="Staff")
    everyone = notify(EVERYONE, title="Everyone")
    with open_socket(daphne, alice) as alice_ws, open_socket(daphne, bob) as bob_ws:
        receive_frame(alice_ws, "hello")
        receive_frame(bob_ws, "hello")
        page = admin_client.post(f"/admin/live_notifications/notification/{mine.pk}/delete/", {"post": "yes"})
        assert page.status_code == 302
        assert receive_frame(alice_ws, "retracted") == {"type": "retracted", "ids": [mine.pk]}
        admin_client.post(
            "/admin/live_notifications/notification/",
            {"action": "delete_selected", "post": "yes", "_selected_action": [chosen.pk, group.pk, everyone.pk]},
        )
        # One frame per audience: alice's own group, the staff group, everyone.
        retracted = {receive_frame(alice_ws, "retracted")["ids"][0] for _ in range(3)}
        assert retracted == {chosen.pk, group.pk, everyone.pk}
        assert {receive_frame(bob_ws, "retracted")["ids"][0] for _ in range(2)} == {group.pk, everyone.pk}
        sync = {"type": "sync", "cursor": None, "ref": "after"}
        alice_ws.send(json.dumps(sync))
        answer = receive_frame(alice_ws, "sync")
        assert answer["notifications"] == []
        assert answer["unread_count"] == 0
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_delivery_actions_go_through_services(admin_client, alice, bob) -> None:
    sent = notify([alice, bob], title="Both")
    rows = list(Delivery.objects.values_list("pk", flat=True))
    admin_client.post(
        "/admin/live_notifications/delivery/", {"action": "mark_read_action", "_selected_action": rows}, follow=True
    )
    assert services.unread_count(alice) == services.unread_count(bob) == 0
    assert "Both" not in admin_client.get("/admin/live_notifications/delivery/?read=no").content.decode()
    assert "Both" in admin_client.get("/admin/live_notifications/delivery/?read=yes").content.decode()
    send_again = {"action": "send_again_action", "_selected_action": rows[:1]}
    admin_client.post("/admin/live_notifications/delivery/", send_again)
    resent = Notification.objects.exclude(pk=sent.pk).get()
    assert resent.deliveries.count() == 1
    assert resent.title == "Both"


def test_user_list_action_opens_the_composer_prefilled(admin_client, alice, bob) -> None:
    response = admin_client.post(
        "/admin/auth/user/", {"action": "send_notification_to_users", "_selected_action": [alice.pk, bob.pk]}
    )
    assert response.status_code == 302
    page = admin_client.get(response["Location"]).content.decode()
    assert f'<option value="{alice.pk}" selected>alice</option>' in page
    assert f'<option value="{bob.pk}" selected>bob</option>' in page


def test_markup_in_content_is_text_in_the_admin(admin_client, alice) -> None:
    sent = notify(alice, title="<script>alert(1)</script>", body="<img src=x onerror=alert(2)>")
    listing = admin_client.get("/admin/live_notifications/notification/").content.decode()
    detail = admin_client.get(f"/admin/live_notifications/notification/{sent.pk}/change/").content.decode()
    for page in (listing, detail):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in detail
