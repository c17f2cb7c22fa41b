"""Settings for Annotate, read from the environment.

Defaults run on a laptop with nothing installed: SQLite and kombu's filesystem broker under
`var/`, and the demo MLX model built by `manage.py build_demo_model`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from inference.backends import egress, hosted  # the backends' defaults, defined once
from inference.env import envbool, envint, envsecret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ANNOTATE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


DEBUG = envbool("DEBUG", "true")
SECRET_KEY = envsecret("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise ValueError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Production (DEBUG off): HTTPS only, secure cookies, HSTS; what `check --deploy` asks for.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false" if DEBUG else "true")
# Load balancers probe /healthz over plain http, past the TLS proxy: no redirect for them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = not DEBUG
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp), enforced: everything from this origin only, and no
# inline script, event handler, style or eval (htmx's eval is off in templates/base.html).
# img-src data: for the icons of the API docs' style sheet (ninja's Swagger UI).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
    }
}
BEHIND_TLS_PROXY = envbool("BEHIND_TLS_PROXY", "false")
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Signing in (django-axes, through annotate.accounts.throttling): after LOGIN_MAX_FAILURES
# failures for one user name from one address, that pair is refused for 15 minutes; the same
# name from another address is not. Counted in the database, so all web processes agree.
AXES_FAILURE_LIMIT = envint("LOGIN_MAX_FAILURES", "10")
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "annotate.accounts.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "annotate.accounts.throttling.cooled_down_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only: no row per successful sign-in
AXES_VERBOSE = False  # no start-up banner in every process
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a cooled-down name and address
    "django.contrib.auth.backends.ModelBackend",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "csp",
    "axes",
    "annotate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "annotate.urls"
WSGI_APPLICATION = "annotate.wsgi.application"

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
                "annotate.web.context_processors.nav",
            ],
            # The web door's template tags live with its views, not at the app's top.
            "libraries": {"annotate_tags": "annotate.web.templatetags.annotate_tags"},
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'annotate.sqlite3'}"),
        # A request reuses its process's connection (seconds kept; 0: one per request),
        # checked before reuse so that a database restart costs no failed request.
        conn_max_age=envint("DB_CONN_MAX_AGE", "60"),
        conn_health_checks=envbool("DB_CONN_HEALTH_CHECKS", "true"),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Workers and the web server write at the same time: wait for the lock instead of failing,
    # and use WAL so readers never block the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests share their database with a real worker process: it must be a file, not :memory:.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_annotate.sqlite3")}
else:
    # A database that goes silent (a network partition, not a clean restart) must not hang a
    # worker for ever: connecting times out, and TCP keepalives notice a dead peer in ~1 min.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        connect_timeout=envint("DB_CONNECT_TIMEOUT_S", "10"),
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate-home"
LOGOUT_REDIRECT_URL = "login"
# A new account's one-time set-password link (annotate.accounts.people) expires after this.
PASSWORD_RESET_TIMEOUT = envint("SET_PASSWORD_LINK_S", str(3 * 24 * 3600))
# E-mail (the set-password link): sent only when EMAIL_HOST is set; else the owner passes it on.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "annotate@localhost")

FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6's default, now

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: files above this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024 * 1024))
IMPORT_MAX_BYTES = envint("IMPORT_MAX_BYTES", str(512 * 1024 * 1024))
# Uploads up to this many bytes import during the request; larger ones by a worker.
IMPORT_INLINE_MAX_BYTES = envint("IMPORT_INLINE_MAX_BYTES", str(8 * 1024 * 1024))
# A background import no worker has taken (or read from) for this long fails, and its stored
# upload goes (datasets.jobs.sweep_import_jobs: at each worker's start and `sweep_imports`).
IMPORT_JOB_MAX_WAIT_S = envint("IMPORT_JOB_MAX_WAIT_S", str(24 * 3600))
# An imported file once decoded (a small Parquet file can decompress to gigabytes): each field
# (a prompt, the messages, a reference, a metadata value), by default enough for any prompt
# PROMPT_MAX_CHARS allows, and the whole file, by default what an upload may hold.
IMPORT_MAX_FIELD_BYTES = envint("IMPORT_MAX_FIELD_BYTES", str(4 * 1024 * 1024))
IMPORT_MAX_TOTAL_BYTES = envint("IMPORT_MAX_TOTAL_BYTES", str(IMPORT_MAX_BYTES))
# One prompt (every message of an item together), in characters: ~250k tokens by default.
PROMPT_MAX_CHARS = envint("PROMPT_MAX_CHARS", "1000000")

# REST API pages: bounded, so no request asks the database for an absurd slice.
NINJA_PAGINATION_PER_PAGE = 100
NINJA_PAGINATION_MAX_LIMIT = 1000
NINJA_PAGINATION_MAX_OFFSET = 10**9
NINJA_PAGINATION_CLASS = "annotate.api.types.Pages"

# Exports of up to this many outputs are written during the request; larger ones by a worker.
EXPORT_INLINE_MAX = envint("EXPORT_INLINE_MAX", "5000")

# The cache holds leaderboards' refresh locks: share it between web processes in production
# (CACHE_URL=redis://...); a process-local cache otherwise.
if os.environ.get("CACHE_URL", "").startswith("redis://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
        }
    }

# --- Celery -----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        # The transport polls its folder; its default of 1 s would delay every task's start.
        # A worker with its prefetch full polls too: at 100 ms an export queued behind 100
        # votes' recounts waited 1.3 s, at 20 ms 0.03 s; idle, 0.55% of a core against 0.40%.
        "polling_interval": envint("BROKER_POLL_MS", "20") / 1000,
    }
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Redis redelivers a task not acknowledged within this time; our tasks are short (a time
    # budget per task), so the default hour is far above the longest one.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "api"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Inference --------------------------------------------------------------------------------
# Where `manage.py build_demo_model` writes the demo model, and the model of the demo
# configuration (a local path or a hub id such as mlx-community/Qwen2.5-Coder-7B-Instruct-4bit).
DEMO_MODEL_DIR = Path(os.environ.get("DEMO_MODEL_DIR", VAR_DIR / "models" / "demo"))
MLX_MODEL = os.environ.get("MLX_MODEL", str(DEMO_MODEL_DIR))
# Sequences generated together by the MLX backend (BatchGenerator's completion batch).
MLX_BATCH_SIZE = envint("MLX_BATCH_SIZE", "8")
# A task works this long, then hands the rest of the run to a fresh task (cancel checks,
# fair sharing between runs, and no broker visibility timeout ever reached).
TASK_TIME_BUDGET_S = envint("TASK_TIME_BUDGET_S", "60")
# A generation claimed by a worker that has not renewed its lease for this long is given back.
GENERATION_LEASE_S = envint("GENERATION_LEASE_S", "120")
# A run with work left and no worker activity for this long is shown as stalled.
RUN_STALL_S = envint("RUN_STALL_S", "60")
MAX_ATTEMPTS = envint("MAX_ATTEMPTS", "3")
MACHINE_NAME = os.environ.get("MACHINE_NAME", "")
# Hosted APIs: tries per request (first try included), and the read timeout of one request.
API_MAX_ATTEMPTS = envint("API_MAX_ATTEMPTS", str(hosted.MAX_ATTEMPTS))
API_TIMEOUT_S = envint("API_TIMEOUT_S", str(int(hosted.TIMEOUT_S)))
# Where hosted requests may go, and which key variable may be sent where (inference/backends/
# egress.py): the operator decides, not whoever edits a model configuration. URLs are origins
# with an optional path prefix (`http://127.0.0.1:*`: any port); rules are VARIABLE=URL.
# Loopback and private servers (vLLM, llama.cpp, mlx_lm.server) must be listed here.
HOSTED_BASE_URLS = os.environ.get("HOSTED_BASE_URLS", " ".join(egress.DEFAULT_URLS.values()))
HOSTED_KEY_VARIABLES = os.environ.get(
    "HOSTED_KEY_VARIABLES",
    " ".join(f"{v}={egress.DEFAULT_URLS[b]}" for b, v in egress.DEFAULT_KEY_VARIABLES.items()),
)
egress.Egress.parse(HOSTED_BASE_URLS, HOSTED_KEY_VARIABLES)  # a bad entry fails at start
# Message Batches: seconds between two polls of a submitted batch.
BATCH_POLL_S = envint("BATCH_POLL_S", "30")

# LOG_FORMAT=json: one JSON object a line, for log collectors.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "annotate.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "plain"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # The development server's request lines, without set-password links (annotate/logs.py).
    "filters": {"links": {"()": "annotate.logs.RedactSetPasswordLinks"}},
    "loggers": {
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "filters": ["links"],
            "propagate": False,
        }
    },
}
