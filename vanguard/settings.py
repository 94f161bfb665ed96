"""Vanguard settings: one module, every value from the environment (django-environ).

Development (``DJANGO_ENV=development``, the default) runs on a bare machine: SQLite, in-process
Celery tasks, local-memory cache and keys generated once into ``.dev-keys.json`` (git-ignored).
Production (``DJANGO_ENV=production``) requires ``DATABASE_URL``, ``REDIS_URL`` and real keys, and
refuses to start without them.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from vanguard.keys import KEY_NAMES, is_development_key, load_or_create_dev_keys

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("DJANGO_ENV must be development, production or test")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be false in production")

# --- keys -------------------------------------------------------------------------------------------
# SECRET_KEY is a *data* key here: django-cryptography derives its HMAC key from it. Rotate it only with
# `manage.py rotate_encryption_key`. JWTs use their own key.
_keys: dict[str, str] = {}
for _name in KEY_NAMES:
    _keys[_name] = env.str(_name, default="")
if PRODUCTION:
    _bad = [name for name, value in _keys.items() if is_development_key(value)]
    if _bad:
        raise ImproperlyConfigured(f"Production refuses missing or development keys: {', '.join(_bad)}")
elif not all(_keys.values()):
    _dev = load_or_create_dev_keys(Path(env.str("DEV_KEYS_FILE", default=str(BASE_DIR / ".dev-keys.json"))))
    _keys = {name: _keys[name] or _dev[name] for name in KEY_NAMES}
SECRET_KEY = _keys["SECRET_KEY"]
JWT_SIGNING_KEY = _keys["JWT_SIGNING_KEY"]
PII_HASH_KEY = _keys["PII_HASH_KEY"]
# An empty value (a blank line in an env file) means "not set", never "an empty key".
CRYPTOGRAPHY_KEY = env.str("CRYPTOGRAPHY_KEY", default="") or SECRET_KEY
ENCRYPTION_KEY_ID = env.str("ENCRYPTION_KEY_ID", default="k1")
# Key rotation (compliance.keys, `manage.py rotate_encryption_key`): the keys data may still be encrypted under.
CRYPTOGRAPHY_KEY_PREVIOUS = env.str("CRYPTOGRAPHY_KEY_PREVIOUS", default="")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])


def _networks(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of IP addresses / CIDR networks, refused at start-up when one does not parse (strictly,
    as gunicorn does: ``10.0.0.1/8`` is a mistake, not ``10.0.0.0/8``)."""
    values = [value.strip() for value in env.list(name, default=default) if value.strip()]
    for value in values:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an IP address or network") from None
    return values


# The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (gunicorn.conf.py hands the same list
# to uvicorn). Empty, the default: no proxy header is believed and the client is the connection's peer.
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES", [])
# Callers who see /health/ready's details (latencies, key id, audit chain) without signing in as staff.
HEALTH_DETAIL_NETWORKS = _networks("HEALTH_DETAIL_NETWORKS", ["127.0.0.1/32", "::1/128"])

_LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else _LOCAL_HOSTS)
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[] if PRODUCTION else ["http://localhost:8000", "http://127.0.0.1:8000"]
)

# --- applications -----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "vanguard.accounts",
    "vanguard.apps.VanguardConfig",
    "vanguard.apps.VanguardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "corsheaders",
    "ninja",
    "vanguard.api_support",
    "vanguard.outbox",
    "auditlog",
    "customers",
    "policies",
    "claims",
    "compliance",
]

MIDDLEWARE = [
    # X-Forwarded-Proto believed only from TRUSTED_PROXIES, before anything asks whether the request is secure.
    "vanguard.middleware.ProxyHeadersMiddleware",
    # Liveness/readiness probes next: no HTTPS redirect, no access-log line (vanguard/health.py).
    "vanguard.health.ProbeMiddleware",
    "vanguard.middleware.RequestIdMiddleware",
    "vanguard.middleware.ApiResponseMiddleware",
    # Django's and WhiteNoise's middleware, subclassed to run on the event loop unless a hook does I/O
    # (vanguard/inline_middleware.py): an API request crosses no thread here.
    "vanguard.inline_middleware.SecurityMiddleware",
    "vanguard.security.SecurityHeadersMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # The ALLOWED_HOSTS check and Content-Length, for every request.
    "vanguard.inline_middleware.CommonMiddleware",
    # For the admin and the API's docs only: an API operation (bearer token) goes on past browser_only_end.
    "vanguard.inline_middleware.BrowserOnlyBegin",
    "vanguard.inline_middleware.StaticFilesMiddleware",
    "vanguard.inline_middleware.SessionMiddleware",
    "vanguard.inline_middleware.CsrfViewMiddleware",
    "vanguard.inline_middleware.AuthenticationMiddleware",
    "vanguard.inline_middleware.MessageMiddleware",
    "vanguard.inline_middleware.browser_only_end",
    "vanguard.inline_middleware.XFrameOptionsMiddleware",
    "vanguard.middleware.AuditContextMiddleware",
]

# Django's deploy checks look for the stock middleware paths; vanguard/checks.py checks the subclasses instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "vanguard.urls"
WSGI_APPLICATION = "vanguard.wsgi.application"
ASGI_APPLICATION = "vanguard.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "admin:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- database ---------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if PRODUCTION and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Production requires DATABASE_URL pointing at PostgreSQL")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    _pg_options = "-c statement_timeout=30s -c idle_in_transaction_session_timeout=60s -c lock_timeout=10s"
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["options"] = _pg_options
    # A server that does not answer must not hold a request (or a readiness probe) for the OS's TCP timeout.
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
    if env.bool("DB_POOL", default=True):
        # Django's native psycopg pool. No per-checkout health check: a dead connection fails the
        # request cleanly and the pool replaces it.
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": env.int("DB_POOL_MAX", default=10),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    if env.bool("DB_SERVER_SIDE_BINDING", default=True):
        # Parameters sent apart from the SQL, and a statement a connection has run DB_PREPARE_THRESHOLD times
        # prepared there (psycopg's auto-prepare; the pool keeps its connections, so a hot statement is parsed
        # and planned once per connection, not per request). Measured (issue 13, one worker under wrk):
        # PostgreSQL's CPU per customer read 0.65 -> 0.41 ms, per claim creation 3.3 -> 2.8 ms; the whole
        # machine's CPU per request 6-8% lower. Set DB_PREPARE_THRESHOLD empty behind a pooler that cannot
        # keep prepared statements (PgBouncer in transaction mode before 1.21).
        threshold = env.str("DB_PREPARE_THRESHOLD", default="5").strip()
        if threshold and not (threshold.isdigit() and int(threshold) >= 1):
            raise ImproperlyConfigured("DB_PREPARE_THRESHOLD must be a whole number of at least 1, or empty (never)")
        DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(threshold) if threshold else None
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_vanguard")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Requests a web worker runs at once (vanguard/asgi.py); more wait for a free request thread. At or below
# DB_POOL_MAX, every running request gets a database connection without waiting for one.
WEB_THREADS = env.int("WEB_THREADS", default=8)
if WEB_THREADS < 1:
    raise ImproperlyConfigured("WEB_THREADS must be at least 1")

# --- cache and tasks --------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
if PRODUCTION and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("Production requires REDIS_URL (or CELERY_BROKER_URL)")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Bounded waits: a Redis outage fails a cache call (and readiness) in seconds instead of hanging.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "vanguard"}}
# No broker: tasks run in-process at enqueue time, so `run` works on a bare machine.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Django's LOGGING (JSON in production, with the task's request id) formats the worker's logs too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SEND_SENT_EVENT = False
# How often beat drains the outbox: the longest a notification waits after its commit.
OUTBOX_DRAIN_SECONDS = env.float("OUTBOX_DRAIN_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "expire-policies": {"task": "policies.tasks.expire_policies", "schedule": crontab(hour=1, minute=0)},
    "enforce-data-retention": {
        "task": "compliance.tasks.enforce_data_retention",
        "schedule": crontab(hour=2, minute=0),
    },
    "flag-policies-for-review": {
        "task": "policies.tasks.flag_policies_for_review",
        "schedule": crontab(hour=3, minute=0),
    },
    "verify-audit-chain": {"task": "compliance.tasks.verify_audit_chain", "schedule": crontab(hour=4, minute=0)},
    "verify-claim-financials": {
        "task": "claims.tasks.verify_claim_financials",
        "schedule": crontab(hour=4, minute=30),
    },
    "flush-expired-tokens": {"task": "vanguard.accounts.tasks.flush_expired_tokens", "schedule": crontab(minute=0)},
    "prune-api-records": {"task": "vanguard.api_support.tasks.prune_api_records", "schedule": crontab(minute=30)},
    # Notifications wait in the outbox table (vanguard/outbox); a tick older than its interval is dropped unrun,
    # so a backlog of ticks (workers down, beat up) never piles up in Redis.
    "drain-outbox": {
        "task": "vanguard.outbox.tasks.drain_outbox",
        "schedule": OUTBOX_DRAIN_SECONDS,
        "options": {"expires": OUTBOX_DRAIN_SECONDS},
    },
}

# --- auth and passwords -----------------------------------------------------------------------------
# The lockout backend wraps ModelBackend: the admin and the API login share the lockout (SPEC §6).
AUTHENTICATION_BACKENDS = ["vanguard.accounts.lockout.LockoutModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "vanguard.accounts.validators.CharacterClassValidator"},
    {"NAME": "vanguard.accounts.validators.PasswordHistoryValidator"},
]
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# Admin messages name customers (and the duplicate national id warning lists them): keep them in the session, not
# in the default cookie, which is signed but readable.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- API: JWT, lockout, rate limits (SPEC §3, §6) ------------------------------------------------------
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "type",
}
# The API's cached principal (user, groups, permissions); every ORM change drops it at once (accounts/auth.py).
PRINCIPAL_CACHE_SECONDS = env.int("PRINCIPAL_CACHE_SECONDS", default=300)
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=20)
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
# Failed sign-ins are kept this long for compliance review, then pruned hourly (prune_api_records).
LOGIN_ATTEMPT_RETENTION_DAYS = env.int("LOGIN_ATTEMPT_RETENTION_DAYS", default=365)
API_RATE_LIMIT_USER = env.str("API_RATE_LIMIT_USER", default="100/m")
API_RATE_LIMIT_ANON = env.str("API_RATE_LIMIT_ANON", default="20/m")
NINJA_PAGINATION_MAX_LIMIT = 100
# Interactive API docs: open in development, staff-only in production.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=not PRODUCTION)

# --- security headers -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy and Permissions-Policy: vanguard.security.SecurityHeadersMiddleware (self-hosted assets only).
PERMISSIONS_POLICY = "geolocation=(), microphone=(), camera=()"

# --- CORS for the frontends (django-cors-headers), API only ------------------------------------------
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOWED_ORIGINS = env.list(
    "CORS_ALLOWED_ORIGINS", default=[] if PRODUCTION else ["http://localhost:3000", "http://localhost:5173"]
)
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "origin",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "ETag",
    "Location",
    "Content-Disposition",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]
CORS_PREFLIGHT_MAX_AGE = 3600
# Only behind a trusted proxy; ProxyHeadersMiddleware drops the header from any other peer.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- i18n, static, media ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    # Documents are private: MEDIA_ROOT is never mapped to a URL; files are streamed by permission-checked views.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # STATIC_MANIFEST lets the Docker build collect production-style static files under development settings.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=PRODUCTION)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 11 * 1024 * 1024

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=f"django.core.mail.backends.{'smtp' if PRODUCTION else 'console'}.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-mail"))  # filebased backend only
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Vanguard <no-reply@vanguard.invalid>")

# --- domain rules -----------------------------------------------------------------------------------
DATA_RETENTION_DAYS = env.int("DATA_RETENTION_DAYS", default=2555)
MINIMUM_PREMIUMS = {
    policy_type: Decimal(env.str(f"MIN_PREMIUM_{policy_type.upper()}", default="100.00"))
    for policy_type in ("auto", "home", "life", "health", "business")
}
# Default approval authority per role (group name -> limit); a user's own limit overrides it.
AUTHORITY_LIMITS = {
    "Claims adjuster": Decimal(env.str("AUTHORITY_LIMIT_ADJUSTER", default="10000.00")),
    "Claims manager": Decimal(env.str("AUTHORITY_LIMIT_MANAGER", default="100000.00")),
}
# One currency per installation (SPEC §10): the code shown beside every amount (vanguard.core.money.format_money).
CURRENCY = env.str("CURRENCY", default="EUR")
# Four eyes (SPEC §10.2): a claim payment above this (or above its requester's authority) waits for a second user.
PAYMENT_FOUR_EYES_LIMIT = Decimal(env.str("PAYMENT_FOUR_EYES_LIMIT", default="5000.00"))
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
# The admin dashboard's figures that do not depend on the user are cached this long.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=60)

# --- audit --------------------------------------------------------------------------------------------
AUDITLOG_LOGENTRY_MODEL = "compliance.AuditEntry"
# auditlog's own migrations create a LogEntry table even though the model is swapped out; that unused table
# references users and content types and breaks TRUNCATE (transactional tests, flush). Nothing of auditlog's is
# migrated: compliance owns the audit table.
MIGRATION_MODULES = {"auditlog": None}
# Key of the audit hash chain (compliance.chain); empty means "derived from PII_HASH_KEY".
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
# Entries are written with a pending seal and chained after commit by a sealer (compliance.chain): after each
# writing transaction (unless AUDIT_SEAL_ON_COMMIT is off) and by beat every AUDIT_SEAL_INTERVAL_SECONDS.
# verify_audit_chain reports an entry still unsealed after AUDIT_SEAL_BOUND_SECONDS as a break. "inline"
# seals each entry in its own transaction under the head lock (the former behaviour; always so on SQLite).
AUDIT_CHAIN_SEALING = env.str("AUDIT_CHAIN_SEALING", default="deferred")
if AUDIT_CHAIN_SEALING not in {"deferred", "inline"}:
    raise ImproperlyConfigured("AUDIT_CHAIN_SEALING must be 'deferred' or 'inline'")
AUDIT_SEAL_ON_COMMIT = env.bool("AUDIT_SEAL_ON_COMMIT", default=True)
# The after-commit seal on a per-process sealer thread, off the request's (compliance.chain._wake_sealer). The
# test suite seals on the committing thread by default, so a test sees its entries sealed when its write returns.
AUDIT_SEAL_IN_THREAD = env.bool("AUDIT_SEAL_IN_THREAD", default=DJANGO_ENV != "test")
# Once woken, the sealer thread waits this long so that the commits landing meanwhile are chained in the same
# pass (one short transaction for many requests' entries instead of one each).
AUDIT_SEAL_DELAY_SECONDS = env.float("AUDIT_SEAL_DELAY_SECONDS", default=0.05)
AUDIT_SEAL_INTERVAL_SECONDS = env.float("AUDIT_SEAL_INTERVAL_SECONDS", default=5.0)
AUDIT_SEAL_BOUND_SECONDS = env.int("AUDIT_SEAL_BOUND_SECONDS", default=120)
if not 0 < AUDIT_SEAL_INTERVAL_SECONDS * 4 <= AUDIT_SEAL_BOUND_SECONDS:
    raise ImproperlyConfigured("AUDIT_SEAL_BOUND_SECONDS must be at least 4 times AUDIT_SEAL_INTERVAL_SECONDS")
if not 0 <= AUDIT_SEAL_DELAY_SECONDS <= AUDIT_SEAL_INTERVAL_SECONDS:
    raise ImproperlyConfigured("AUDIT_SEAL_DELAY_SECONDS must be between 0 and AUDIT_SEAL_INTERVAL_SECONDS")
# A tick older than its interval is dropped unrun: the next one seals the same entries.
CELERY_BEAT_SCHEDULE["seal-audit-chain"] = {
    "task": "compliance.tasks.seal_audit_chain",
    "schedule": AUDIT_SEAL_INTERVAL_SECONDS,
    "options": {"expires": AUDIT_SEAL_INTERVAL_SECONDS},
}
AUDITLOG_CID_HEADER = "x-request-id"
AUDITLOG_CID_GETTER = "vanguard.core.request_context.get_request_id"
AUDITLOG_STORE_JSON_CHANGES = True

# --- logging ------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "vanguard.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "()": "vanguard.logging.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "vanguard.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if PRODUCTION else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The access log (vanguard.middleware.RequestIdMiddleware) replaces runserver's and uvicorn's, which log
        # the request line with its query string (?email=…, ?q=<national id>): both are off, 4xx/5xx lines included.
        "django.server": {"level": "CRITICAL", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}

# --- backups (manage.py backup / restore) ----------------------------------------------------------
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(BASE_DIR / "backups")))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=10)
