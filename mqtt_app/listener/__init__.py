"""The listener process: holds MQTT sockets for its assigned connections, batches messages to Celery.

- client: one paho-mqtt client per connection with its reconnect/auth/silence policy;
- reader: the fast MQTT read path (docs/listener.md), MQTT_FAST_READER;
- batcher: raw messages → `tasks.ingest.ingest_batch`, acknowledged to the broker only once queued;
- service: the process itself (one selector loop driving every client).

Its coordination state in Redis (heartbeats, assignments), shared with reconciliation: mqtt_app/coordination.py.
"""
