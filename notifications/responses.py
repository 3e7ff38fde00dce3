"""The app's JSON responses: Django's, ending with a newline (a terminal's next prompt starts on its own line)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse as DjangoJsonResponse


class JsonResponse(DjangoJsonResponse):
    """``django.http.JsonResponse`` with a final newline."""

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.content = self.content + b"\n"
