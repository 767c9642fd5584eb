"""Settings, read from the environment only here.

Every variable below is listed with its default in the README's settings table and in `.env.example`.
The defaults run the whole product on a laptop with nothing configured: SQLite in WAL mode, Redis and
Mosquitto on loopback; DEBUG is off unless set (`make run` and the tests set it). Bad values fail at start
with ImproperlyConfigured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# --- tiny typed environment helpers --------------------------------------------------------------
def env_str(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    # Set-but-empty counts as unset: PaaS dashboards often leave blank variables behind.
    return default if value is None or value.strip() == "" else value.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off).")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is out of range [{minimum}, {maximum}].")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if not raw:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- core -----------------------------------------------------------------------------------------
# Off unless asked for: a deploy that forgets it must not run with the development key and open Flower.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-dev-key-only-for-debug"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "axes",
    "mqtt_app.apps.MqttConfig",
    "tasks.apps.TasksConfig",
    "frontend.apps.FrontendConfig",
    "faults.apps.FaultsConfig",
    "bench.apps.BenchConfig",
]

MIDDLEWARE = [
    "mqtt_app.observability.latency.ApiLatencyMiddleware",  # API p99 for the success metrics
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mqtt_app.accounts.PasswordResetNeedsEmailMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- database -------------------------------------------------------------------------------------
def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL lets the web, worker and beat processes read while one writes.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL has an unsupported scheme: {url.split(':', 1)[0]!r}")
    if config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        config["CONN_HEALTH_CHECKS"] = True
    test_name = env_str("TEST_DATABASE_NAME")
    if test_name:
        config["TEST"] = {"NAME": test_name}
    return dict(config)


DATABASES = {"default": _database()}


def _session_setting(name: str, read: Callable[[str], float | int]) -> float | int | None:
    """A PostgreSQL setting this product sets on each of its sessions (mqtt_app/db_session.py): None when the
    variable says `server` (keep the server's own value), otherwise `read(name)`, which names the variable in
    its error."""
    return None if env_str(name).lower() == "server" else read(name)


# PostgreSQL's planner cost of a random page read: the hot tables live in memory, so an index probe per topic
# beats the server default's full scan (figures: docs/tuning.md).
DB_RANDOM_PAGE_COST = _session_setting("DB_RANDOM_PAGE_COST", lambda n: env_float(n, 1.1, minimum=0.0))
# PostgreSQL's backend_flush_after, in kB (the server's default is 0, off): each worker session has the kernel
# write its readings as it goes, so a checkpoint's fsync does not stall every commit (figures: docs/tuning.md).
DB_BACKEND_FLUSH_AFTER = _session_setting("DB_BACKEND_FLUSH_AFTER", lambda n: env_int(n, 256, minimum=0, maximum=2048))
# PostgreSQL's JIT compilation (the server's default is on): off, since its cost estimates on a partitioned
# readings table passed jit_above_cost and compiling took a second for a 20 ms query (docs/tuning.md).
DB_JIT = _session_setting("DB_JIT", lambda n: env_bool(n, False))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- redis, celery, channels ---------------------------------------------------------------------
from project.broker import AMQP_SCHEMES, amqp_settings, is_amqp  # noqa: E402 - used only here

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}.")
# Prefix for every Redis key this product writes (listener registry, locks), so tests and several
# installations can share one Redis.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "mqttmon")

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://", *AMQP_SCHEMES)):
    raise ImproperlyConfigured(f"CELERY_BROKER_URL must be a redis:// or amqp:// URL, got {CELERY_BROKER_URL!r}.")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json", "msgpack"]  # msgpack: the listener's ingest batches (raw payload bytes)
CELERY_TIMEZONE = "UTC"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# 1: a worker process reserves only the batch it runs, so batches waiting stay in Redis, where the listener's
# queue-length probe sees them and makes batches bigger (listener/batcher.py); with 4, eight batches of two
# processes waited out of its sight.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "tasks.ingest.*": {"queue": "ingest"},
    "tasks.reconcile.*": {"queue": "control"},
    "tasks.status.*": {"queue": "control"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis: an unacked message whose lease was not renewed for this long belongs to a dead worker and is
    # redelivered. Live workers renew the lease of every message they hold (tasks/leases.py), so a slow batch
    # is never redelivered under a running worker, and a killed worker's batch is back within about this long.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 30, minimum=10),
    # Scan for expired leases every 5 s, every interval (kombu's defaults would add up to ~100 s).
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}
if is_amqp(CELERY_BROKER_URL):
    # RabbitMQ: quorum queues and publisher confirms instead (project/broker.py, docs/brokers.md).
    _AMQP = amqp_settings()
    CELERY_BROKER_TRANSPORT_OPTIONS = _AMQP["broker_transport_options"]
    CELERY_TASK_QUEUES = _AMQP["task_queues"]
    CELERY_WORKER_DETECT_QUORUM_QUEUES = _AMQP["worker_detect_quorum_queues"]
# Celery's Django fixup otherwise closes the database connection around every task: each ingest batch
# would open a new PostgreSQL connection, a third of a small batch's CPU.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# The layer's receive is a 5 s blocking pop (BZPOPMIN); redis-py 8 gives every connection a 5 s socket timeout,
# so an idle WebSocket's read timed out and its consumer died. No socket timeout here: a dead server is found by
# the connection's health check (a PING before use after this many idle seconds) and TCP keepalive instead.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": env_str("CHANNEL_REDIS_URL", REDIS_URL),
                    "socket_timeout": None,
                    "socket_connect_timeout": 5,
                    "socket_keepalive": True,
                    "health_check_interval": 10,
                }
            ],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 30,
        },
    }
}


# --- MQTT monitor behaviour ----------------------------------------------------------------------
MQTT_RECONCILE_INTERVAL = env_int("MQTT_RECONCILE_INTERVAL", 30, minimum=1)
MQTT_LISTENER_HEARTBEAT = env_float("MQTT_LISTENER_HEARTBEAT", 5.0, minimum=0.2)
MQTT_LISTENER_TTL = env_float("MQTT_LISTENER_TTL", 20.0, minimum=1.0)
MQTT_LISTENER_CAPACITY = env_int("MQTT_LISTENER_CAPACITY", 2000, minimum=1)
MQTT_RECONNECT_MIN_DELAY = env_float("MQTT_RECONNECT_MIN_DELAY", 1.0, minimum=0.05)
MQTT_RECONNECT_MAX_DELAY = env_float("MQTT_RECONNECT_MAX_DELAY", 60.0, minimum=0.1)
MQTT_AUTH_RETRY_DELAY = env_float("MQTT_AUTH_RETRY_DELAY", 300.0, minimum=1.0)
MQTT_SILENCE_TIMEOUT = env_float("MQTT_SILENCE_TIMEOUT", 300.0, minimum=1.0)
# Seconds between two Sparkplug B rebirth commands to one edge node (connections with sparkplug_rebirth on).
MQTT_SPARKPLUG_REBIRTH_INTERVAL = env_int("MQTT_SPARKPLUG_REBIRTH_INTERVAL", 60, minimum=1)
MQTT_SESSION_EXPIRY = env_int("MQTT_SESSION_EXPIRY", 86400, minimum=0)
# The listener's own MQTT read path (mqtt_app/listener/reader.py, docs/listener.md); false: stock paho-mqtt's.
MQTT_FAST_READER = env_bool("MQTT_FAST_READER", True)
MQTT_BATCH_SIZE = env_int("MQTT_BATCH_SIZE", 500, minimum=1)
# While batches wait in the ingest queue (the workers are behind), bigger batches: fewer transactions and
# topic updates per message, when throughput is what is short. See mqtt_app/listener/batcher.py.
MQTT_BATCH_SIZE_BUSY = env_int("MQTT_BATCH_SIZE_BUSY", 2000, minimum=1)
MQTT_BATCH_INTERVAL_BUSY = env_float("MQTT_BATCH_INTERVAL_BUSY", 0.1, minimum=0.001)
MQTT_BATCH_INTERVAL = env_float("MQTT_BATCH_INTERVAL", 0.025, minimum=0.001)
# A batch is also sent once this many QoS>0 messages wait for their ack; match the broker's
# max_inflight_messages (Mosquitto: 20), or the broker stalls waiting for acks the listener holds back.
MQTT_ACK_WINDOW = env_int("MQTT_ACK_WINDOW", 20, minimum=1)
# Messages a listener holds while Redis is unreachable. At least every held connection's full ack window,
# or an ordinary burst across many connections would look like a Redis outage.
MQTT_LISTENER_MAX_BUFFER = env_int(
    "MQTT_LISTENER_MAX_BUFFER", max(10 * MQTT_BATCH_SIZE, 5000, MQTT_LISTENER_CAPACITY * MQTT_ACK_WINDOW), minimum=1
)
MQTT_MAX_PAYLOAD_BYTES = env_int("MQTT_MAX_PAYLOAD_BYTES", 256 * 1024, minimum=1)
# A batch carries at most this many payload bytes (bounded memory in the listener, the queue and the worker).
MQTT_BATCH_MAX_BYTES = env_int("MQTT_BATCH_MAX_BYTES", 8 * 1024 * 1024, minimum=1024)
# Ingest batches waiting in the queue past which listeners stop adding (they spool, or hold acknowledgements).
MQTT_INGEST_MAX_BACKLOG = env_int("MQTT_INGEST_MAX_BACKLOG", 5000, minimum=10)
# The listeners' durable spool for batches the queue cannot take (mqtt_app/listener/spool.py); 0 turns it off.
MQTT_SPOOL_DIR = Path(env_str("MQTT_SPOOL_DIR", str(BASE_DIR / "var" / "spool")))
MQTT_SPOOL_MAX_BYTES = env_int("MQTT_SPOOL_MAX_BYTES", 1024 * 1024 * 1024, minimum=0)
# How long an ingest task waits out the database or Redis being away before it hands its batch back to the
# queue, and how many such rounds before the batch's messages become dead letters (mqtt_app/ingest/attempts.py).
MQTT_INGEST_RETRY_WINDOW = env_int("MQTT_INGEST_RETRY_WINDOW", 120, minimum=1)
MQTT_INGEST_MAX_RETRIES = env_int("MQTT_INGEST_MAX_RETRIES", 60, minimum=0)
MQTT_PAYLOAD_SAMPLE_BYTES = env_int("MQTT_PAYLOAD_SAMPLE_BYTES", 2048, minimum=16)
MQTT_MAX_TOPICS_PER_CONNECTION = env_int("MQTT_MAX_TOPICS_PER_CONNECTION", 10_000, minimum=1)
MQTT_PARSERS = env_list("MQTT_PARSERS", [])
MQTT_MAX_JSON_DEPTH = env_int("MQTT_MAX_JSON_DEPTH", 32, minimum=2)
MQTT_PARSE_ERROR_GROUP_WINDOW = env_int("MQTT_PARSE_ERROR_GROUP_WINDOW", 300, minimum=0)
MQTT_READING_RETENTION_DAYS = env_int("MQTT_READING_RETENTION_DAYS", 30, minimum=1)
# PostgreSQL: readings are partitioned by arrival day(s); retention drops whole partitions (ingest/partitions.py).
MQTT_READING_PARTITION_DAYS = env_int("MQTT_READING_PARTITION_DAYS", 1, minimum=1, maximum=31)
MQTT_READING_PARTITIONS_AHEAD = env_int("MQTT_READING_PARTITIONS_AHEAD", 3, minimum=1, maximum=60)
# Closed partitions are compacted into blocks this long after their end (PostgreSQL; mqtt_app/history/compaction.py).
MQTT_READING_COMPACT_AFTER_DAYS = env_int("MQTT_READING_COMPACT_AFTER_DAYS", 2, minimum=2)
MQTT_LOG_RETENTION_DAYS = env_int("MQTT_LOG_RETENTION_DAYS", 14, minimum=1)
# A topic silent this long (and at least the readings' retention) is forgotten, so junk topics cannot fill
# MQTT_MAX_TOPICS_PER_CONNECTION for good; topics a person set a parser on, or an alert rule names, are kept.
MQTT_TOPIC_RETENTION_DAYS = env_int("MQTT_TOPIC_RETENTION_DAYS", 90, minimum=1)
MQTT_RETENTION_CHUNK = env_int("MQTT_RETENTION_CHUNK", 5000, minimum=1)
MQTT_REPARSE_CHUNK = env_int("MQTT_REPARSE_CHUNK", 1000, minimum=1)
# Rollups for long-range charts (docs/history.md): kept longer than the raw readings they summarise.
MQTT_ROLLUP_INTERVAL = env_int("MQTT_ROLLUP_INTERVAL", 60, minimum=1)
MQTT_ROLLUP_LOOKBACK_SECONDS = env_int("MQTT_ROLLUP_LOOKBACK_SECONDS", 3600, minimum=60)
MQTT_ROLLUP_MINUTE_RETENTION_DAYS = env_int("MQTT_ROLLUP_MINUTE_RETENTION_DAYS", 90, minimum=2)
MQTT_ROLLUP_HOUR_RETENTION_DAYS = env_int("MQTT_ROLLUP_HOUR_RETENTION_DAYS", 730, minimum=2)
MQTT_INGEST_COPY = env_bool("MQTT_INGEST_COPY", True)
# Celery task events (Flower's task list) for each ingest batch, when the worker sends events at all (-E): off,
# they cost the worker ~1.3 ms a batch (tasks/ingest.py). Turn on to follow single batches in Flower.
MQTT_INGEST_TASK_EVENTS = env_bool("MQTT_INGEST_TASK_EVENTS", False)
MQTT_LIVE_READINGS_PER_SECOND = env_float("MQTT_LIVE_READINGS_PER_SECOND", 4.0, minimum=0.1)
# A topic page's chart gets every reading of its topic up to this many a second per series; beyond, it is thinned
# (and says so).
MQTT_LIVE_TOPIC_POINTS_PER_SECOND = env_float("MQTT_LIVE_TOPIC_POINTS_PER_SECOND", 50.0, minimum=1.0)
WS_MAX_SUBSCRIPTIONS = env_int("WS_MAX_SUBSCRIPTIONS", 500, minimum=1)
# Alerting (docs/alerts.md): the evaluation tick, reminders of unacknowledged alerts (0: none), the number of
# notifications to one destination in one round from which they go as one grouped message, delivery limits, and
# the address the links in notifications point to.
MQTT_ALERT_INTERVAL = env_int("MQTT_ALERT_INTERVAL", 15, minimum=1)
MQTT_ALERT_REMINDER_SECONDS = env_int("MQTT_ALERT_REMINDER_SECONDS", 3600, minimum=0)
MQTT_ALERT_GROUP_THRESHOLD = env_int("MQTT_ALERT_GROUP_THRESHOLD", 5, minimum=2)
MQTT_ALERT_HTTP_TIMEOUT = env_float("MQTT_ALERT_HTTP_TIMEOUT", 10.0, minimum=0.1)
MQTT_ALERT_MAX_RETRIES = env_int("MQTT_ALERT_MAX_RETRIES", 8, minimum=0)
# Webhook and Apprise targets on loopback, private, link-local (cloud metadata), ... addresses: refused unless on.
MQTT_ALERT_ALLOW_PRIVATE_TARGETS = env_bool("MQTT_ALERT_ALLOW_PRIVATE_TARGETS", False)
MQTT_PUBLIC_URL = env_str("MQTT_PUBLIC_URL", "http://127.0.0.1:8000")
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_HEALTH_WINDOW = env_int("METRICS_HEALTH_WINDOW", 3600, minimum=60)
METRICS_HEALTH_CACHE_SECONDS = env_int("METRICS_HEALTH_CACHE_SECONDS", 30, minimum=0)


# --- auth, i18n, static ----------------------------------------------------------------------------
# django-axes first: it refuses a locked-out user or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Failed logins: each user name and each client address is locked on its own after this many failures within
# the cool-off, so guessing one account from many addresses and many accounts from one address both stop.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours, as axes reads it
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # failures are what lock out; a row per successful login is not kept
# The address is REMOTE_ADDR: behind a proxy, daphne --proxy-headers (the Procfile's web) sets it from X-Forwarded-For.

# Mail: the password-reset pages answer only when EMAIL_HOST is set (mqtt_app/accounts.py).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "mqttmon@localhost")


def _fernet_keys(name: str) -> list[str]:
    """Fernet keys that encrypt broker passwords and TLS private keys in the database (mqtt_app/crypto.py): the
    first encrypts, all decrypt, so a new key goes first and the old one stays until `mqtt_rotate_secrets` ran."""
    from cryptography.fernet import Fernet

    keys = env_list(name, [])
    if not keys and not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (it encrypts broker passwords and TLS keys). Generate one with: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            message = f"{name}: key #{position} is not a Fernet key (32 url-safe base64-encoded bytes)."
            raise ImproperlyConfigured(message) from None
    return keys


MQTT_SECRET_KEYS = _fernet_keys("MQTT_SECRET_KEYS")
# Empty: any broker host. Otherwise host names, *.wildcards and CIDRs a connection may point at.
MQTT_ALLOWED_BROKER_HOSTS = env_list("MQTT_ALLOWED_BROKER_HOSTS", [])
# Rows one CSV export of readings streams at most (GET /api/readings?format=csv).
MQTT_EXPORT_MAX_ROWS = env_int("MQTT_EXPORT_MAX_ROWS", 100_000, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    # The proxy in front must set (overwrite) X-Forwarded-Proto; a client-sent one would otherwise pass for HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    # Health checks and scrapers inside the private network speak plain HTTP to the web process.
    SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^metrics$"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # Browsers then refuse plain HTTP to this host for that long; 0 turns it off (not behind HTTPS yet).
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)


# --- logging ----------------------------------------------------------------------------------------
LOG_DIR = Path(env_str("LOG_DIR", str(BASE_DIR / "logs")))
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOG_JSON = env_bool("LOG_JSON", False)
LOG_FILE_MAX_BYTES = env_int("LOG_FILE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
LOG_FILE_BACKUPS = env_int("LOG_FILE_BACKUPS", 5, minimum=0)

from project.logging import build_logging  # noqa: E402 - needs the values above

LOGGING = build_logging(
    log_dir=LOG_DIR,
    level=LOG_LEVEL,
    json_lines=LOG_JSON,
    max_bytes=LOG_FILE_MAX_BYTES,
    backups=LOG_FILE_BACKUPS,
)


# --- sentry -----------------------------------------------------------------------------------------
SENTRY_DSN = env_str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production")
SENTRY_RELEASE = env_str("SENTRY_RELEASE")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0.0)
# Resolving an alert resolves its Sentry issue through Sentry's web API (the SDK cannot): a token with event:write.
SENTRY_API_URL = env_str("SENTRY_API_URL", "https://sentry.io").rstrip("/")
SENTRY_API_TOKEN = env_str("SENTRY_API_TOKEN")
SENTRY_ORG = env_str("SENTRY_ORG")
if SENTRY_API_TOKEN and not SENTRY_ORG:
    raise ImproperlyConfigured("SENTRY_API_TOKEN is set without SENTRY_ORG (the organization slug its issues are in).")
if SENTRY_DSN:
    from project.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )


# --- flower ------------------------------------------------------------------------------------------
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH")
FLOWER_AUTH_PROVIDER = env_str("FLOWER_AUTH_PROVIDER")  # Flower's OAuth, instead of basic auth
FLOWER_PORT = env_int("FLOWER_PORT", 5555, minimum=1, maximum=65535)
