"""A LiveConsumer written as the Channels tutorial writes a chat consumer: group_add, group_send, a handler."""

from __future__ import annotations

from django.urls import path

from notifications.live import ClientMessage, LiveConsumer


class TutorialChatConsumer(LiveConsumer):
    async def on_connect(self) -> None:
        self.room_group_name = f"chat_{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

    async def on_disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def handle_say(self, message: ClientMessage) -> None:
        event = {"type": "chat.message", "text": message.fields["text"], "user": self.user.get_username()}
        await self.channel_layer.group_send(self.room_group_name, event)

    async def handle_whisper_to(self, message: ClientMessage) -> None:
        # Another socket's channel_name: nothing listens on it, so this is refused with a clear error.
        await self.channel_layer.send(message.fields["channel"], {"type": "chat.message", "text": "psst"})

    async def handle_note_to_self(self, message: ClientMessage) -> None:
        await self.channel_layer.send(self.channel_name, {"type": "chat.message", "text": "note", "user": "me"})

    async def chat_message(self, event: dict) -> None:
        await self.send_frame({"type": "said", "text": event["text"], "user": event["user"]})


websocket_urlpatterns = [path("ws/tutorial/<slug:room>/", TutorialChatConsumer.as_asgi())]
