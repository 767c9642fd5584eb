from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mqtt_app.models import Site


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    sites = Site.objects.prefetch_related("connections")
    return render(request, "frontend/dashboard.html", {"sites": sites})
