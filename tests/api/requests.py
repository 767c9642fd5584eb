"""JSON requests with Django's test client, and the broker password the API tests store."""

from __future__ import annotations

from django.test import Client

SECRET = "s3cret-Pa55word-never-shown"


def post_json(client: Client, url: str, data: object, **kwargs):
    return client.post(url, data, content_type="application/json", **kwargs)


def patch_json(client: Client, url: str, data: object, **kwargs):
    return client.patch(url, data, content_type="application/json", **kwargs)
