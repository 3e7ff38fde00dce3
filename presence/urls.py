from __future__ import annotations

from django.urls import path

from presence import views

app_name = "presence"

urlpatterns = [
    path("presence/", views.room, name="lobby"),
    path("presence/<str:name>/", views.room, name="room"),
]
