from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("connections/<int:connection_id>/", views.connection_detail, name="connection"),
    path("topics/<int:topic_id>/", views.topic_detail, name="topic"),
    path("errors/", views.errors_inbox, name="errors"),
    path("tokens/", views.api_tokens, name="tokens"),
    path("alerts/", views.alerts_page, name="alerts"),
]
