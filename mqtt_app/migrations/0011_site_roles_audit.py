"""Site roles (viewer, operator, manager per user and site) and the audit trail of changes made by people."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mqtt", "0010_api_tokens_named"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("username", models.CharField(blank=True, help_text="Kept when the user is deleted.", max_length=150)),
                ("via", models.CharField(default="api", help_text="api, admin or cli.", max_length=16)),
                (
                    "action",
                    models.CharField(help_text="e.g. connection.start, connection.change, role.grant.", max_length=40),
                ),
                ("site_id", models.IntegerField(blank=True, db_index=True, null=True)),
                ("connection_id", models.IntegerField(blank=True, null=True)),
                ("target", models.CharField(blank=True, help_text="What was changed, in words.", max_length=300)),
                ("changes", models.JSONField(blank=True, default=dict, help_text='{field: {"old": ..., "new": ...}}')),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="audit_entries",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-at", "-id"],
                "indexes": [models.Index(fields=["connection_id", "-at"], name="mqtt_audit_conn_at")],
            },
        ),
        migrations.CreateModel(
            name="SiteRole",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("viewer", "Viewer (read)"),
                            ("operator", "Operator (start/stop, topic parsers, replays)"),
                            ("manager", "Manager (connections, credentials, roles)"),
                        ],
                        default="viewer",
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="roles", to="mqtt.site"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="site_roles",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["site__name", "user__username"],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "site"), name="mqtt_site_role_unique_per_user")
                ],
            },
        ),
    ]
