"""Admin: compose and send notifications, see who received and read them, act in bulk.

Sent content is read-only: an edit would not reach the pages that already
show it, so the change page only displays it. Every action goes through the
services, so open pages update live.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import ngettext

from notifications import EVERYONE, services
from notifications.exceptions import InvalidNotification
from notifications.models import Audience, Delivery, Level, Notification
from notifications.services.admin_actions import mark_deliveries, send_again
from notifications.services.validation import clean_content


class ComposeForm(forms.Form):
    """Who gets it (chosen users, one group, or everyone) and what it says."""

    audience = forms.ChoiceField(
        choices=[(Audience.USERS, "Chosen users"), (Audience.GROUP, "A group"), (Audience.EVERYONE, "Everyone")],
        widget=forms.RadioSelect,
        initial=Audience.USERS,
    )
    users = forms.ModelMultipleChoiceField(queryset=get_user_model()._default_manager.all(), required=False)
    group = forms.ModelChoiceField(queryset=Group.objects.all(), required=False)
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    level = forms.ChoiceField(choices=Level.choices, initial=Level.INFO)
    url = forms.CharField(required=False, max_length=500, help_text="Relative (/builds/42/) or http(s).")
    kind = forms.CharField(required=False, max_length=64, help_text="Optional category, e.g. build.")

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Autocomplete widgets need the admin site, so they are attached here (with their choices).
        for name, widget in [
            ("users", AutocompleteSelectMultiple(Delivery._meta.get_field("user"), admin_site)),
            ("group", AutocompleteSelect(Notification._meta.get_field("group"), admin_site)),
        ]:
            widget.choices = self.fields[name].choices
            self.fields[name].widget = widget

    class Media:
        js = ("notifications/admin_compose.js",)  # names the autocomplete fields for screen readers

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        audience = data.get("audience")
        if audience == Audience.USERS and not data.get("users"):
            self.add_error("users", "Choose at least one user.")
        if audience == Audience.GROUP and not data.get("group"):
            self.add_error("group", "Choose a group.")
        if "title" in data:
            try:
                clean_content(
                    title=data["title"],
                    body=data.get("body", ""),
                    level=data.get("level", ""),
                    url=data.get("url", ""),
                    kind=data.get("kind", ""),
                    data=None,
                )
            except InvalidNotification as exc:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return data

    def recipient(self) -> Any:
        audience = self.cleaned_data["audience"]
        if audience == Audience.EVERYONE:
            return EVERYONE
        if audience == Audience.GROUP:
            return self.cleaned_data["group"]
        return self.cleaned_data["users"]


class ReadFilter(admin.SimpleListFilter):
    title = "read state"
    parameter_name = "read"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Read"), ("no", "Unread")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        return queryset


def _delivery_count(**conditions: Any) -> Coalesce:
    """How many deliveries the row's notification has (matching ``conditions``), as a subquery."""
    deliveries = Delivery.objects.filter(notification=OuterRef("pk"), **conditions).order_by()
    return Coalesce(Subquery(deliveries.values("notification").annotate(n=Count("pk")).values("n")[:1]), 0)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "level", "audience_label", "sender", "created_at", "recipients", "read")
    list_filter = ("level", "audience", "kind", "created_at")
    search_fields = ("title", "body", f"deliveries__user__{get_user_model().USERNAME_FIELD}")
    date_hierarchy = "created_at"
    list_select_related = ("group", "sender")
    fields = ("title", "body", "level", "url", "kind", "data", "audience", "group", "sender", "actor", "created_at")
    readonly_fields = fields
    actions = ["send_again_action"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                # Subqueries, not Count() over a join: a search through recipients' names
                # joins the deliveries again and would multiply a join's counts.
                recipient_total=_delivery_count(),
                read_total=_delivery_count(read_at__isnull=False),
            )
        )

    @admin.display(description="audience", ordering="audience")
    def audience_label(self, obj: Notification) -> str:
        if obj.audience == Audience.GROUP:
            return f"group: {obj.group.name}" if obj.group else "group (deleted)"
        return obj.get_audience_display()

    @admin.display(description="recipients", ordering="recipient_total")
    def recipients(self, obj: Notification) -> str:
        changelist = reverse(admin_urlname(Delivery._meta, "changelist"))
        url = f"{changelist}?{urlencode({'notification__id__exact': obj.pk})}"
        return format_html('<a href="{}">{}</a>', url, obj.recipient_total)

    @admin.display(description="read", ordering="read_total")
    def read(self, obj: Notification) -> int:
        return obj.read_total

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False  # sent content is read-only (see the module docstring)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The composer: saving sends the notification, live, instead of saving a model form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {}
        if ids := request.GET.get("users"):
            initial["users"] = [pk for pk in ids.split(",") if pk.isdigit()]
        form = ComposeForm(request.POST or None, initial=initial, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            sent = services.notify(
                form.recipient(),
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                level=form.cleaned_data["level"],
                url=form.cleaned_data["url"],
                kind=form.cleaned_data["kind"],
                sender=request.user,
            )
            self.log_addition(request, sent, [{"added": {}}])
            count = sent.recipient_count
            sent_to = ngettext("Sent to %(count)d recipient.", "Sent to %(count)d recipients.", count)
            self.message_user(request, sent_to % {"count": count}, messages.SUCCESS)
            return HttpResponseRedirect(reverse(admin_urlname(Notification._meta, "change"), args=[sent.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Send a notification",
            "form": form,
            "media": self.media + form.media,
            "opts": self.opts,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/notifications/compose.html", context)

    def delete_model(self, request: HttpRequest, obj: Notification) -> None:
        """Deleting retracts: every open page of every recipient drops it live."""
        services.retract(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        services.retract(queryset)

    @admin.action(description="Send selected notifications again (same audience)", permissions=["add"])
    def send_again_action(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        total = sum(send_again(n, sender=request.user).recipient_count for n in queryset)
        again = ngettext("Sent %(count)d notification again", "Sent %(count)d notifications again", queryset.count())
        to = ngettext("to %(total)d recipient.", "to %(total)d recipients.", total)
        self.message_user(request, f"{again % {'count': queryset.count()}} {to % {'total': total}}")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Per-recipient rows: who received what, and whether they read it."""

    list_display = ("notification", "user", "is_read", "read_at", "deleted_at")
    list_filter = (ReadFilter, "notification__level", "notification__created_at")
    search_fields = (f"user__{get_user_model().USERNAME_FIELD}", "notification__title")
    list_select_related = ("notification", "user")
    readonly_fields = ("notification", "user", "read_at", "deleted_at")
    actions = ["mark_read_action", "mark_unread_action", "send_again_action"]

    @admin.display(boolean=True, description="read")
    def is_read(self, obj: Delivery) -> bool:
        return obj.is_read

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deliveries are created by sending

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    @admin.action(description="Mark selected as read", permissions=["mark"])
    def mark_read_action(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        self.message_user(request, f"Marked {mark_deliveries(queryset, read=True)} as read.")

    @admin.action(description="Mark selected as unread", permissions=["mark"])
    def mark_unread_action(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        self.message_user(request, f"Marked {mark_deliveries(queryset, read=False)} as unread.")

    @admin.action(description="Send again to these recipients", permissions=["send"])
    def send_again_action(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        notifications = Notification.objects.filter(deliveries__in=queryset).distinct()
        for notification in notifications:
            recipients = get_user_model()._default_manager.filter(
                notification_deliveries__in=queryset.filter(notification=notification)
            )
            send_again(notification, sender=request.user, recipients=recipients)
        again = ngettext(
            "Sent %(count)d notification again.", "Sent %(count)d notifications again.", len(notifications)
        )
        self.message_user(request, again % {"count": len(notifications)})

    def has_mark_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(_permission("change", Delivery))

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(_permission("add", Notification))


def _permission(action: str, model: type[Any]) -> str:
    """``app_label.action_model``: follows the app's label instead of spelling it."""
    return f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"


@admin.action(description="Send a notification to selected users")
def send_notification_to_users(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse:
    ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
    return HttpResponseRedirect(reverse(admin_urlname(Notification._meta, "add")) + "?" + urlencode({"users": ids}))


def _add_action_to_user_admin() -> None:
    """Offer "Send a notification" on the Users list of whatever UserAdmin the site registered."""
    user_model = get_user_model()
    if not admin.site.is_registered(user_model):
        return
    user_admin = admin.site.get_model_admin(user_model)
    actions = list(user_admin.actions or [])
    if send_notification_to_users not in actions:
        user_admin.actions = [*actions, send_notification_to_users]


_add_action_to_user_admin()
