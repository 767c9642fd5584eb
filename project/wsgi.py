"""WSGI entry point (the ASGI one in asgi.py is what the Procfile runs; this serves plain-HTTP hosts)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_wsgi_application()
