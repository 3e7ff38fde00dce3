from __future__ import annotations

from django.urls import path

from presence import views

app_name = "presence"

urlpatterns = [
    path("", views.room, name="lobby"),
    path("<str:name>/", views.room, name="room"),
]
