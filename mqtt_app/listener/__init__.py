"""The listener process: holds MQTT sockets for its assigned connections, batches messages to Celery.

- registry: the Redis keys shared with reconciliation (heartbeats, assignments, notifications, lock);
- client: one paho-mqtt client per connection with its reconnect/auth/silence policy;
- batcher: raw messages → `tasks.ingest.ingest_batch`, acknowledged to the broker only once queued;
- service: the process itself (one selector loop driving every client).
"""
