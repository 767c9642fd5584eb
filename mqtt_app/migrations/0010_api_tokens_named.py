"""API tokens: several per user, each named, with an optional expiry."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def name_existing(apps, schema_editor):  # noqa: ANN001, ANN201 - RunPython's signature
    ApiToken = apps.get_model("mqtt", "ApiToken")
    for token in ApiToken.objects.using(schema_editor.connection.alias).all():
        token.name = f"token-{token.prefix}"
        token.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [
        ("mqtt", "0009_connection_secrets_encrypted"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(name="apitoken", options={"ordering": ["user", "-created_at"]}),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, help_text="Empty: never expires.", null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="name",
            field=models.CharField(
                default="", help_text="What the token is for, e.g. 'grafana' or 'ci'.", max_length=100
            ),
            preserve_default=False,
        ),
        migrations.RunPython(name_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.UniqueConstraint(fields=("user", "name"), name="mqtt_api_token_unique_name_per_user"),
        ),
    ]
