"""The ingestion benchmark behind `python manage.py mqtt_bench` (see run.py)."""
