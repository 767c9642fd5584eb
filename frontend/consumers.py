"""WebSocket consumers: thin, ORM only through database_sync_to_async, handlers named after event types."""
from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mqtt_app.events import STATUS_GROUP


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(STATUS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(STATUS_GROUP, self.channel_name)

    async def connection_status(self, event: dict) -> None:
        await self.send_json(event["payload"])
