"""Qingfeng settings: one module, configured from the environment.

`QINGFENG_ENV=production` turns on the production profile, which refuses to start
without a configured encryption key and secret key. With nothing configured the
project runs on SQLite and a SQLite-backed Celery broker under `var/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("QINGFENG_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


ENVIRONMENT = os.environ.get("QINGFENG_ENV", "development")
PRODUCTION = ENVIRONMENT == "production"
TESTING = env_bool("QINGFENG_TESTING")

DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION and not TESTING)


def _secret_key() -> str:
    value = os.environ.get("DJANGO_SECRET_KEY")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
    # Development: a random key kept beside the dev database, mode 0600.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        import secrets

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "*").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "intake",
    "triage",
    "notifications",
]

MIDDLEWARE = [
    # First: no client identifier may reach any later code, log or error report.
    "config.middleware.StripClientIdentifiersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle/absolute session limits and the TOTP step for /staff/ and /admin/ only.
    "config.middleware.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After each admin POST: seal its change-record entries into their hash chain.
    "triage.middleware.ConfigChangeSealMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "intake.context_processors.staff",
                "triage.context_processors.console",
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DEFAULT_SQLITE_PATH = VAR_DIR / "qingfeng.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60)))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, worker and beat share one file; a busy timeout instead
    # of "database is locked" errors under concurrent writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_qingfeng.sqlite3")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, form tokens, worker heartbeat) -------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("QINGFENG_CACHE_PREFIX", "qingfeng"),
        }
    }
else:
    # Shared between the web, worker and beat processes through the database.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "qingfeng_cache",
        }
    }

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
# kombu's Redis transport with its client reused per channel (config/broker.py): the same
# commands, without building a client object for every delivery, ack and publish.
CELERY_BROKER_TRANSPORT = "config.broker:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A prefix keeps separate deployments (or concurrent test runs) on one Redis apart.
QUEUE_PREFIX = os.environ.get("QINGFENG_QUEUE_PREFIX", "")
TRIAGE_QUEUE = f"{QUEUE_PREFIX}triage"
CELERY_TASK_DEFAULT_QUEUE = f"{QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {"triage.*": {"queue": TRIAGE_QUEUE}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a citizen's request when the broker is down: the report is
# already committed and the sweeper re-queues it later.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = False
# Celery's Django fixup closes the DB connection around every task unless this is set;
# reconnecting cost ~6 ms a task. config/celery.py still drops stale or broken ones.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = "Asia/Shanghai"
TRIAGE_SWEEP_AFTER_SECONDS = env_int("QINGFENG_TRIAGE_SWEEP_AFTER_SECONDS", 120)
TRIAGE_SWEEP_INTERVAL_SECONDS = env_int("QINGFENG_TRIAGE_SWEEP_INTERVAL_SECONDS", 60)
TRIAGE_SWEEP_REPEAT_SECONDS = env_int("QINGFENG_TRIAGE_SWEEP_REPEAT_SECONDS", 600)
# The worker triages reports in batches: up to TRIAGE_BATCH_SIZE messages, or what arrived
# within TRIAGE_BATCH_WAIT_SECONDS. The prefetch lets each pool process fill a batch.
TRIAGE_BATCH_SIZE = env_int("QINGFENG_TRIAGE_BATCH_SIZE", 100)
TRIAGE_BATCH_WAIT_SECONDS = float(os.environ.get("QINGFENG_TRIAGE_BATCH_WAIT_SECONDS", "0.5"))
# Per pool process, two batches: the next one fills while the current one runs (with one,
# the pool process waits for every batch to be fetched). See triage.tasks.triage_report.
CELERY_WORKER_PREFETCH_MULTIPLIER = 2 * TRIAGE_BATCH_SIZE
TRIAGE_MAX_ATTEMPTS = env_int("QINGFENG_TRIAGE_MAX_ATTEMPTS", 8)
TRIAGE_RETRY_BACKOFF = 5
TRIAGE_RETRY_BACKOFF_MAX = 300
TRIAGE_CONFIDENCE_THRESHOLD = float(os.environ.get("QINGFENG_TRIAGE_CONFIDENCE_THRESHOLD", "0.6"))
TRIAGE_REPORTER_CHOICE_WEIGHT = 5.0
TRIAGE_DUPLICATE_MAX_DISTANCE = env_int("QINGFENG_TRIAGE_DUPLICATE_MAX_DISTANCE", 3)
TRIAGE_DUPLICATE_WINDOW_DAYS = env_int("QINGFENG_TRIAGE_DUPLICATE_WINDOW_DAYS", 180)
# Stored classifier versions that keep their artifacts (the active one always does): older
# ones are pruned after each training, keeping their metrics. 0 keeps every version.
CLASSIFIER_VERSIONS_KEPT = env_int("QINGFENG_CLASSIFIER_VERSIONS_KEPT", 5)
TRAINING_CSV = os.environ.get("QINGFENG_TRAINING_CSV", str(BASE_DIR.parent / "shared" / "datasets" / "messages_labelled.csv"))
WORKER_HEARTBEAT_SECONDS = env_int("QINGFENG_WORKER_HEARTBEAT_SECONDS", 20)

# --- Encryption and receipts ---------------------------------------------------------
# QINGFENG_KEYS: "kid:base64key,kid:base64key" (first encrypts, all decrypt), or
# QINGFENG_KEY_FILE: a JSON file {"keys": [{"id": ..., "key": ...}], "receipt_pepper": ...}
# kept outside the database. Development generates var/keys.json (mode 0600).
QINGFENG_KEYS = os.environ.get("QINGFENG_KEYS", "")
QINGFENG_KEY_FILE = os.environ.get("QINGFENG_KEY_FILE", "" if PRODUCTION else str(VAR_DIR / "keys.json"))
QINGFENG_RECEIPT_PEPPER = os.environ.get("QINGFENG_RECEIPT_PEPPER", "")
if PRODUCTION and not (QINGFENG_KEYS or QINGFENG_KEY_FILE):
    raise ImproperlyConfigured("Production requires QINGFENG_KEYS or QINGFENG_KEY_FILE.")
if PRODUCTION and QINGFENG_KEY_FILE and not QINGFENG_KEYS and not Path(QINGFENG_KEY_FILE).is_file():
    raise ImproperlyConfigured(f"QINGFENG_KEY_FILE {QINGFENG_KEY_FILE} does not exist.")
# Argon2id cost for receipt hashes (see intake/crypto.py). The server-side pepper is the
# defence that matters: without it a stolen database cannot test a single guess. With
# database and pepper both stolen, the hash is deterministic (one guess tests every
# receipt at once), so the memory cost only scales the attacker's bill; 4 MiB x 2 passes
# (~6 ms here) keeps it at GPU-days per receipt found among a million, and leaves the
# 2-core intake target reachable. bench/intake.py prints the cost share.
RECEIPT_HASH_MEMORY_KIB = env_int("QINGFENG_RECEIPT_HASH_MEMORY_KIB", 4096)
RECEIPT_HASH_TIME_COST = env_int("QINGFENG_RECEIPT_HASH_TIME_COST", 2)

# --- Abuse control without client identifiers -----------------------------------------
FORM_TOKEN_MAX_AGE_SECONDS = env_int("QINGFENG_FORM_TOKEN_MAX_AGE_SECONDS", 4 * 3600)
FORM_TOKEN_MIN_AGE_SECONDS = env_int("QINGFENG_FORM_TOKEN_MIN_AGE_SECONDS", 0 if TESTING else 2)
SUBMISSIONS_PER_MINUTE = env_int("QINGFENG_SUBMISSIONS_PER_MINUTE", 600)
RECEIPT_LOOKUPS_PER_MINUTE = env_int("QINGFENG_RECEIPT_LOOKUPS_PER_MINUTE", 300)
RECEIPT_FAILURES_PER_HOUR = env_int("QINGFENG_RECEIPT_FAILURES_PER_HOUR", 2000)

# --- Attachments and content limits --------------------------------------------------
ATTACHMENT_MAX_BYTES = env_int("QINGFENG_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_MAX_COUNT = env_int("QINGFENG_ATTACHMENT_MAX_COUNT", 5)
ATTACHMENT_MAX_TOTAL_BYTES = env_int("QINGFENG_ATTACHMENT_MAX_TOTAL_BYTES", 30 * 1024 * 1024)
# A request body other than file parts: the API's JSON carries attachments base64-encoded
# (4/3 of their size), so it must hold the attachment total encoded, plus the text.
DATA_UPLOAD_MAX_MEMORY_SIZE = ATTACHMENT_MAX_TOTAL_BYTES * 4 // 3 + 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 20
REPORT_BODY_MIN_CHARS = 10
REPORT_BODY_MAX_CHARS = 20000
IDEMPOTENCY_TTL_HOURS = env_int("QINGFENG_IDEMPOTENCY_TTL_HOURS", 24)
# Days after closing during which a reporter may ask for a review (信访工作条例: 30 days).
REVIEW_REQUEST_WINDOW_DAYS = env_int("QINGFENG_REVIEW_REQUEST_WINDOW_DAYS", 30)
# A running deadline is 临期 when less than this share of its period is left.
DEADLINE_DUE_SOON_FRACTION = float(os.environ.get("QINGFENG_DEADLINE_DUE_SOON_FRACTION", "0.2"))

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if TESTING
    else ["django.contrib.auth.hashers.Argon2PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)
LOGIN_URL = "/staff/login/"
LOGIN_REDIRECT_URL = "/staff/"
LOGOUT_REDIRECT_URL = "/staff/login/"
# A staff session ends after STAFF_IDLE_SECONDS without a request, and in any case
# STAFF_SESSION_MAX_SECONDS after sign-in (config.middleware.StaffSessionMiddleware).
STAFF_IDLE_SECONDS = env_int("QINGFENG_STAFF_IDLE_SECONDS", 30 * 60)
STAFF_SESSION_MAX_SECONDS = env_int("QINGFENG_SESSION_SECONDS", 8 * 3600)
SESSION_COOKIE_AGE = STAFF_SESSION_MAX_SECONDS
# Password guessing: after LOGIN_MAX_FAILURES wrong passwords or codes for one username,
# that username is locked for LOGIN_LOCKOUT_SECONDS (counted per username, never per client).
LOGIN_MAX_FAILURES = env_int("QINGFENG_LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("QINGFENG_LOGIN_LOCKOUT_SECONDS", 15 * 60)
OTP_TOTP_ISSUER = "清风"
# How long a staff member who needs a code may add an authenticator with the password alone,
# after the account is created, gains such a role or loses its last device (intake.models.EnrolmentWindow).
TOTP_ENROLMENT_HOURS = env_int("QINGFENG_TOTP_ENROLMENT_HOURS", 72)
# Wrong codes count towards the same per-username lock as wrong passwords; django-otp's
# own growing delay would only make a mistyped code fail again when retyped at once.
OTP_TOTP_THROTTLE_FACTOR = 0
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Strict"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "intake.staff_auth.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (attachments travel base64-encoded): a form or multipart body would be
    # decoded with replacement characters, and a file part silently left out.
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Qingfeng API",
    "DESCRIPTION": (
        "Anonymous reports, receipts and staff-channel intake. Receipts travel in bodies, never URLs. "
        "Bodies are UTF-8 JSON whatever charset a Content-Type names; text fields (receipts and phone "
        "numbers included) are JSON strings, never numbers. Bad input is a 400 with messages per field."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- i18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security headers -----------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
# Staff pages: same-origin, so Django's CSRF origin check works. Citizen pages send
# no-referrer (SecurityHeadersMiddleware) and use signed single-use tokens, not CSRF.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script anywhere; styles and scripts only from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("QINGFENG_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("QINGFENG_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set in production.")

# --- Logging: never a client address, receipt or content -------------------------------
LOG_LEVEL = os.environ.get("QINGFENG_LOG_LEVEL", "INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's request logger would print request paths and, on errors, request
        # objects; our own error middleware reports what is needed without them.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "jieba": {"level": "WARNING"},
    },
}
ADMINS: list[tuple[str, str]] = []
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("QINGFENG_EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "qingfeng@localhost")

# --- Notifications (notifications/) -----------------------------------------------------
# SMS to named reporters who opted in: a console or file backend by default; a gateway
# plugs in by naming its class here (notifications.sms.BaseSMSBackend).
SMS_BACKEND = os.environ.get("QINGFENG_SMS_BACKEND", "notifications.sms.ConsoleSMSBackend")
SMS_FILE_PATH = os.environ.get("QINGFENG_SMS_FILE_PATH", str(VAR_DIR / "sms"))
NOTIFY_SCAN_INTERVAL_SECONDS = env_int("QINGFENG_NOTIFY_SCAN_INTERVAL_SECONDS", 300)
# Dashboards read maintained per-case figures (triage.dashboard_figures): the beat refreshes
# the cases changed since, and a page view first refreshes up to this many queued changes
# (beyond that it shows "数据截至" the oldest change it has not counted yet).
# "Verify all" on the auditor's desk runs in the request up to this many cases, else in the worker.
AUDIT_INLINE_MAX_CASES = env_int("QINGFENG_AUDIT_INLINE_MAX_CASES", 20_000)
DASHBOARD_FIGURES_REFRESH_SECONDS = env_int("QINGFENG_DASHBOARD_FIGURES_REFRESH_SECONDS", 60)
DASHBOARD_READ_REFRESH_ROWS = env_int("QINGFENG_DASHBOARD_READ_REFRESH_ROWS", 5000)
# Overdue → the department head at once; this many working days later → the level above
# and leadership, and the case is put under 督办.
NOTIFY_ESCALATE_AFTER_WORKDAYS = env_int("QINGFENG_NOTIFY_ESCALATE_AFTER_WORKDAYS", 3)
NOTIFY_MAX_ATTEMPTS = env_int("QINGFENG_NOTIFY_MAX_ATTEMPTS", 6)
NOTIFY_RETRY_BACKOFF_SECONDS = float(os.environ.get("QINGFENG_NOTIFY_RETRY_BACKOFF_SECONDS", "30"))
NOTIFY_RETRY_BACKOFF_MAX_SECONDS = float(os.environ.get("QINGFENG_NOTIFY_RETRY_BACKOFF_MAX_SECONDS", "3600"))
NOTIFY_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("QINGFENG_NOTIFY_WEBHOOK_TIMEOUT_SECONDS", "10"))
# A send still pending this long after it was due was lost with its message: re-queue it.
NOTIFY_RESEND_AFTER_SECONDS = env_int("QINGFENG_NOTIFY_RESEND_AFTER_SECONDS", 300)
# Where a notice points staff (the case console); {case_id} is filled in.
NOTIFY_CASE_PATH = os.environ.get("QINGFENG_NOTIFY_CASE_PATH", "/staff/cases/{case_id}/")
NOTIFY_CITIZEN_PATH = "/status/"

SITE_URL = os.environ.get("QINGFENG_SITE_URL", "http://127.0.0.1:8000")

CELERY_BEAT_SCHEDULE = {
    "sweep-untriaged-reports": {
        "task": "triage.tasks.sweep_received",
        "schedule": float(TRIAGE_SWEEP_INTERVAL_SECONDS),
        "options": {"queue": TRIAGE_QUEUE, "expires": TRIAGE_SWEEP_INTERVAL_SECONDS},
    },
    "beat-heartbeat": {
        "task": "qingfeng.beat_heartbeat",
        "schedule": float(WORKER_HEARTBEAT_SECONDS),
        "options": {"expires": WORKER_HEARTBEAT_SECONDS},
    },
    "purge-idempotency-records": {
        "task": "intake.tasks.purge_idempotency",
        "schedule": 3600.0,
    },
    "notifications-deadline-scan": {
        "task": "notifications.tasks.scan_deadlines",
        "schedule": float(NOTIFY_SCAN_INTERVAL_SECONDS),
        "options": {"expires": NOTIFY_SCAN_INTERVAL_SECONDS},
    },
    "notifications-digest-daily": {
        "task": "notifications.tasks.send_digests",
        "schedule": crontab(minute=0, hour=8),
        "args": ("daily",),
        "options": {"expires": 6 * 3600},
    },
    "notifications-digest-weekly": {
        "task": "notifications.tasks.send_digests",
        "schedule": crontab(minute=10, hour=8, day_of_week="mon"),
        "args": ("weekly",),
        "options": {"expires": 6 * 3600},
    },
    # Corrections teach the model: retrain every week at night (only if there is new data).
    "retrain-classifier-weekly": {
        "task": "triage.tasks.retrain_classifier",
        "schedule": crontab(minute=30, hour=2, day_of_week="sun"),
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 6 * 3600},
    },
    "refresh-dashboard-figures": {
        "task": "triage.tasks.refresh_dashboard_figures",
        "schedule": float(DASHBOARD_FIGURES_REFRESH_SECONDS),
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": DASHBOARD_FIGURES_REFRESH_SECONDS},
    },
    # Every case's event chain, each night; the auditor's desk shows the outcome.
    "verify-audit-chains-nightly": {
        "task": "triage.tasks.verify_audit_chains",
        "schedule": crontab(minute=45, hour=2),
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 6 * 3600},
    },
    # 实时预警 (triage.alerts): a rise shows within the quarter hour.
    "scan-alerts": {
        "task": "triage.tasks.scan_alerts",
        "schedule": 900.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 900},
    },
}
