"""Settings, read from the environment (see README, "Configuration").

Defaults are the embedded set-up: SQLite for the portal, DuckDB over Parquet
for science data, a broker on the local file system. Nothing here needs a
server; production switches each part with one variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from apps.core.env import EnvError, env_bool, env_choice, env_int, env_list, env_networks, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("DAIQUIRI_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
# Without a key, a placeholder lets `manage.py check` explain the problem (daiquiri.E001);
# the web server and workers run the checks at start-up and refuse to start.
SECRET_KEY = env_str("SECRET_KEY", "") or "insecure-development-key-only-for-debug"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env_str("SITE_NAME", "Daiquiri data portal")

# --- the VO Registry: this portal's records are ivo://<REGISTRY_AUTHORITY>/<path> (apps/registry)
REGISTRY_AUTHORITY = env_str("REGISTRY_AUTHORITY", "daiquiri.invalid")  # a naming authority the operator registered
REGISTRY_PUBLISHER = env_str("REGISTRY_PUBLISHER", SITE_NAME)  # curation/publisher in every record
REGISTRY_CONTACT_EMAIL = env_str("REGISTRY_CONTACT_EMAIL", "")
REGISTRY_PAGE_SIZE = env_int("REGISTRY_PAGE_SIZE", 50, minimum=1)  # records per OAI-PMH answer before a resumptionToken

INSTALLED_APPS = [
    "daphne",  # ASGI runserver, so WebSockets work in development too
    "apps.core.admin_site.PortalAdminConfig",  # django.contrib.admin with the index of apps/core/admin_site.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.access",
    "apps.activity",
    "apps.metadata",
    "apps.query",
    "apps.tap",
    "apps.conesearch",
    "apps.files",
    "apps.compute",
    "apps.registry",
    "apps.datalink",
    *env_list("DAIQUIRI_EXTRA_APPS", []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.ContentSecurityPolicy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RefuseUnstorableText",  # before anything reads the session, the form or the database
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.HeaderAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "daiquiri.urls"
ASGI_APPLICATION = "daiquiri.asgi.application"
SITE_ID = 1

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
                "apps.core.context_processors.site",
            ],
        },
    },
]


# --- Portal database -------------------------------------------------------
# Under ASGI every request runs in a thread of its own, and a persistent connection
# (CONN_MAX_AGE > 0) stays with its thread: one uvicorn process held 76 idle
# connections and then failed with "too many clients" (Django's docs warn about
# this). PostgreSQL therefore uses a bounded pool per process (psycopg_pool through
# Django): at most DB_POOL_MAX_SIZE connections, a request waits up to
# DB_POOL_TIMEOUT seconds for one. DB_POOL_MAX_SIZE=0 turns the pool off (then a
# connection per request, closed at its end unless DB_CONN_MAX_AGE says otherwise).
def _database() -> dict[str, Any]:
    engine = env_choice("DB_ENGINE", ("sqlite", "postgresql", "mariadb"), "sqlite")
    if engine == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_path("DB_NAME", VAR_DIR / "portal.sqlite3"),
            # timeout: under load from several clients and workers a writer waits up to 30 s for SQLite's one
            # write lock instead of failing after the default 5 s with "database is locked" (a 500).
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;", "timeout": 30},
        }
    default_port = 5432 if engine == "postgresql" else 3306
    database: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql" if engine == "postgresql" else "django.db.backends.mysql",
        "NAME": env_str("DB_NAME", "daiquiri"),
        "USER": env_str("DB_USER", "postgres" if engine == "postgresql" else "root"),
        "PASSWORD": env_str("DB_PASSWORD", ""),
        "HOST": env_str("DB_HOST", "127.0.0.1"),
        "PORT": env_int("DB_PORT", default_port, minimum=1, maximum=65535),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 0, minimum=0),
        # A pooled connection is checked as it is taken (one round trip on PostgreSQL): after a database restart
        # each idle one would otherwise fail its first query, a web request or a worker's job.
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": env_str("DB_TEST_NAME", "") or None},
    }
    if engine == "mariadb":
        database["OPTIONS"] = {"charset": "utf8mb4"}
    else:
        database["OPTIONS"] = _postgresql_options(database["CONN_MAX_AGE"])
    return database


def _postgresql_options(conn_max_age: int) -> dict[str, Any]:
    options: dict[str, Any] = {"application_name": env_str("DB_APPLICATION_NAME", "daiquiri-portal")}  # seen in pg_stat_activity
    size = env_int("DB_POOL_MAX_SIZE", 10, minimum=0, maximum=1000)
    if size:
        if conn_max_age:
            raise EnvError("DB_CONN_MAX_AGE must be 0 while the connection pool is on (DB_POOL_MAX_SIZE > 0): "
                           "the pool keeps the connections")
        options["pool"] = {"min_size": env_int("DB_POOL_MIN_SIZE", 1, minimum=0, maximum=size), "max_size": size,
                           "timeout": env_int("DB_POOL_TIMEOUT", 30, minimum=1), "max_idle": 300}
        os.register_at_fork(before=_close_pools)
    return options


def _close_pools() -> None:
    """Before a fork (Celery's worker children): close the pool, so no child shares a pooled socket with its
    parent; each process opens a pool of its own at its next query."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    by_alias: dict[str, Any] = DatabaseWrapper._connection_pools  # type: ignore[attr-defined]  # Django's own registry
    pools = list(by_alias.values())
    by_alias.clear()
    for pool in pools:
        pool.close(timeout=5)


DATABASES = {"default": _database()}
if DATABASES["default"]["ENGINE"].endswith("mysql"):
    import pymysql  # pure-Python driver; Django talks to it through the MySQLdb shim

    pymysql.version_info = (2, 2, 7, "final", 0)
    pymysql.install_as_MySQLdb()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, sessions-adjacent state) ----------------------------
REDIS_URL = env_str("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "apps.core.cache.SharedClientRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "apps.core.cache.AtomicFileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    )
}

# --- Celery and Channels --------------------------------------------------
# The embedded broker is kombu's SQLAlchemy transport on an SQLite file of its own (var/broker.sqlite3).
# Why not kombu's file-system transport (the old default): its readers can see a message file half
# written by a concurrent producer, and the JSONDecodeError that follows kills the worker's consumer.
# SQLite writes are transactions, so a message is whole or absent, whatever the number of producers.
# Why a file of its own, not the portal database: the consumer takes SQLite's write lock on every poll,
# which must not queue behind (or delay) the portal's own writes. Messages only wake workers: the
# portal database stays the truth about jobs, and the query workers' sweep (workers/query.py)
# sends again any QUEUED job whose message was lost (a killed worker, a broker restarted or wiped).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or f"sqlite:///{VAR_DIR / 'broker.sqlite3'}")
if CELERY_BROKER_URL.startswith("sqlite:"):
    from sqlalchemy.pool import NullPool

    # kombu's SQLAlchemy transport, polling every 0.1 s instead of 1 s (it hands every option to
    # create_engine, so the interval is a class attribute of daiquiri.celery's subclass).
    CELERY_BROKER_TRANSPORT = "daiquiri.celery:EmbeddedTransport"
    # NullPool: no SQLite connection is pooled in a worker and inherited by its forked pool
    # children (SQLite forbids using a connection across fork). Opening one costs well under 1 ms.
    # timeout: a producer waits for the consumer's lock instead of failing at once.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"poolclass": NullPool, "connect_args": {"timeout": 30}}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 43200, minimum=60)}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered, never lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # job state lives in the portal database
# Each worker process writes a heartbeat (apps/core/models.py) this often; none fresher than the stale
# limit means no worker is alive: VOSI availability turns false and the query pages say so.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 5, minimum=1)
WORKER_STALE_AFTER_SECONDS = env_int("WORKER_STALE_AFTER_SECONDS", 20, minimum=2)

CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

# --- Accounts ----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# open: active once the e-mail is verified; activation: a manager activates;
# confirmation: a manager confirms, then an administrator activates.
ACCOUNT_APPROVAL = env_choice("ACCOUNT_APPROVAL", ("open", "activation", "confirmation"), "open")
ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
ACCOUNT_SIGNUP_FORM_CLASS = "apps.accounts.forms.SignupForm"
ACCOUNT_FORMS = {"login": "apps.accounts.login.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    # Off by default: failures on the login page meet the AUTH_FAILURES_* counters (apps/accounts/authentication.py),
    # which count atomically and per (account, address). allauth's own limit, if set, adds a non-atomic one whose
    # per-"key" part lets anyone lock an account out from anywhere (5/5m/key did).
    "login_failed": env_str("LOGIN_RATE_LIMIT", ""),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
# Proxies whose X-Forwarded-For is believed (addresses or CIDR blocks); by default nobody's: the
# client is REMOTE_ADDR. Login limits count per client address, so this must name the real proxies.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", [])
# HTTP Basic/token failures allowed per window (apps/accounts/authentication.py explains the three counters).
AUTH_FAILURES_ALLOWED = env_int("AUTH_FAILURES_ALLOWED", 10, minimum=1)
AUTH_FAILURE_WINDOW_S = env_int("AUTH_FAILURE_WINDOW_S", 300, minimum=1)
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
MANAGERS_GROUP = "managers"

EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.HeaderAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}

# --- Security (production defaults; see `manage.py check --deploy`) ----------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
HTTPS = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page (apps/core/middleware.py): scripts and styles only from our static files, never inline, so
# injected markup cannot run; fetch() only to ourselves and to a SAMP hub's Web Profile on this machine.
SAMP_WEB_PROFILE = "http://localhost:21012 http://127.0.0.1:21012"
CONTENT_SECURITY_POLICY = env_str("CONTENT_SECURITY_POLICY", (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    f"connect-src 'self' {SAMP_WEB_PROFILE}; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
))

# --- Static files, i18n --------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static")
WHITENOISE_USE_FINDERS = True  # serve static/ even before collectstatic (tests, first start)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()},
}

# --- Science data engines (workers/engines/) -------------------------------------
ENGINES = ("duckdb", "postgresql", "mariadb", "spark")
DEFAULT_ENGINE = env_choice("DEFAULT_ENGINE", ENGINES, "duckdb")
SCIENCE_DIR = env_path("SCIENCE_DIR", VAR_DIR / "science")  # Parquet catalogues (DuckDB, Spark)
MYDB_DIR = env_path("MYDB_DIR", VAR_DIR / "mydb")  # users' results stored as Parquet (DuckDB, Spark)
SCIENCE_POSTGRESQL_URL = env_str("SCIENCE_POSTGRESQL_URL", "")  # e.g. postgresql://daiquiri@db/science; empty: engine off
# Idle connections kept per process and per login (the reader role, each principal's role) to the science
# PostgreSQL: a small query costs less than opening one (workers/engines/pool.py). 0: a connection per query.
SCIENCE_POSTGRESQL_POOL_SIZE = env_int("SCIENCE_POSTGRESQL_POOL_SIZE", 4, minimum=0, maximum=100)
SCIENCE_MARIADB_URL = env_str("SCIENCE_MARIADB_URL", "")  # e.g. mysql://daiquiri@db:3306/science; empty: engine off
SPARK_REMOTE = env_str("SPARK_REMOTE", "")  # sc://host:15002 (Spark Connect); "local" for an in-process session
# DuckDB/Spark ingest stores a table with positions as HEALPix partitions (HATS, workers/engines/hats.py) from this many rows.
INGEST_HATS_MIN_ROWS = env_int("INGEST_HATS_MIN_ROWS", 10_000_000, minimum=1)
# What one engine may take in one process (workers/engines/limits.py; each key concerns one engine). A worker
# process runs one job at a time; a queue's "limits" override these. The web process streams synchronous
# queries beside its requests: ENGINE_WEB_LIMITS bound it further. Sizes like 512MB or 2GB.
ENGINE_LIMITS: dict[str, Any] = {
    "memory_limit": env_str("DUCKDB_MEMORY_LIMIT", "2GB"),  # DuckDB, per worker process
    "threads": env_int("DUCKDB_THREADS", 2, minimum=1),
    "temp_directory": str(env_path("DUCKDB_TEMP_DIR", VAR_DIR / "spill")),  # beyond memory_limit, DuckDB spills here
    "max_temp_directory_size": env_str("DUCKDB_MAX_SPILL", "20GB"),
    "work_mem": env_str("POSTGRESQL_WORK_MEM", "64MB"),  # per sort/hash of a PostgreSQL query
    "tmp_table_size": env_int("MARIADB_TMP_TABLE_SIZE", 64 * 1024**2, minimum=1024),  # bytes; larger go to disk
    "spark_cores": env_int("SPARK_CORES", 0, minimum=0),  # Spark: local[n] / 2n shuffle partitions on Connect; 0 = its own
    "spark_memory": env_str("SPARK_MEMORY", ""),  # Spark: a local session's JVM heap, like 2GB; "" = Spark's default
}
# Two threads: a sync query run here reads at most QUERY_SYNC_IN_WORKER_ABOVE_ROWS rows (heavier ones run in a
# worker), so it holds them a moment; a cone over several row groups or files is answered in about half the time.
ENGINE_WEB_LIMITS: dict[str, Any] = {
    "memory_limit": env_str("DUCKDB_WEB_MEMORY_LIMIT", "512MB"),
    "threads": env_int("DUCKDB_WEB_THREADS", 2, minimum=1),
}
# Routing by size (apps/query/planning.py): a query over Parquet tables estimated to read more rows than
# this goes to Spark when Spark is configured; smaller ones run on DuckDB. Users may choose where allowed.
QUERY_SPARK_ABOVE_ROWS = env_int("QUERY_SPARK_ABOVE_ROWS", 50_000_000, minimum=0)
QUERY_ROUTING = env_choice("QUERY_ROUTING", ("size", "off"), "size")  # off: queries run where their tables are held
# A synchronous query on Spark, or on DuckDB estimated to read more rows than this, runs in a worker while the
# request waits (apps/query/sync_in_worker.py): the web process never holds a heavy scan. Smaller ones run in it.
QUERY_SYNC_IN_WORKER_ABOVE_ROWS = env_int("QUERY_SYNC_IN_WORKER_ABOVE_ROWS", 5_000_000, minimum=0)

# --- query ---
# Queues like CasJobs: a quick one for interactive work and a long one for hours.
# "who": the built-in group given the queue's "submit" privilege when it is first
# used ("anyone", "public" = every registered user, or "" = only explicit grants
# made with the access app). Row limit None = no limit beyond MAXREC.
# Native SQL instead of ADQL: "none" (only whom managers grant it), "public" (registered users), "anyone".
QUERY_NATIVE_SQL_FOR = env_choice("QUERY_NATIVE_SQL_FOR", ("none", "public", "anyone"), "none")
QUERY_QUEUES: dict[str, dict[str, Any]] = {
    "quick": {
        "label": "Quick (1 minute)",
        "time_limit": env_int("QUERY_QUICK_TIME_LIMIT", 60, minimum=1),
        "row_limit": env_int("QUERY_QUICK_ROW_LIMIT", 1_000_000, minimum=1),
        "who": "anyone",
        "concurrency": env_int("QUERY_QUICK_CONCURRENCY", 4, minimum=1),
    },
    "long": {
        "label": "Long (8 hours)",
        "time_limit": env_int("QUERY_LONG_TIME_LIMIT", 8 * 3600, minimum=1),
        "row_limit": env_int("QUERY_LONG_ROW_LIMIT", 100_000_000, minimum=1),
        "who": "public",
        "concurrency": env_int("QUERY_LONG_CONCURRENCY", 2, minimum=1),
        "limits": {"memory_limit": env_str("QUERY_LONG_DUCKDB_MEMORY_LIMIT", "4GB"),  # over ENGINE_LIMITS
                   "spark_pool": "long"},  # Spark FAIR pool: long scans share the executors with quick ones
    },
}
QUERY_DEFAULT_QUEUE = "quick"
QUERY_DESTRUCTION_DAYS = env_int("QUERY_DESTRUCTION_DAYS", 30, minimum=1)  # UWS destruction time of new jobs
QUERY_QUOTA_BYTES = env_int("QUERY_QUOTA_BYTES", 10 * 1024**3, minimum=0)  # per user; QueryQuota rows override
QUERY_HEARTBEAT_SECONDS = env_int("QUERY_HEARTBEAT_SECONDS", 5, minimum=1)
QUERY_STALE_AFTER_SECONDS = env_int("QUERY_STALE_AFTER_SECONDS", 60, minimum=2)  # no heartbeat for this long: worker died
QUERY_REQUEUE_AFTER_SECONDS = env_int("QUERY_REQUEUE_AFTER_SECONDS", 120, minimum=1)  # QUEUED this long: send again
QUERY_REAPER_SECONDS = env_int("QUERY_REAPER_SECONDS", 30, minimum=1)
QUERY_REPLAN_AFTER_SECONDS = env_int("QUERY_REPLAN_AFTER_SECONDS", 30, minimum=0)  # older plans are made again at run time
# Synchronous queries (TAP sync) stream from the web process: at most this many at once per user, and per
# client address for anonymous users; one more gets HTTP 429 with Retry-After (seconds).
QUERY_SYNC_CONCURRENCY = env_int("QUERY_SYNC_CONCURRENCY", 4, minimum=1)
QUERY_SYNC_RETRY_AFTER_SECONDS = env_int("QUERY_SYNC_RETRY_AFTER_SECONDS", 10, minimum=1)
# With Redis, the ends of sync queries finished within this many milliseconds are written in one commit, in a
# thread of the web process (apps/query/sync.py EndWriter); 0 writes each at once.
QUERY_SYNC_WRITE_MS = env_int("QUERY_SYNC_WRITE_MS", 50, minimum=0)
# The web process beats for its sync queries every QUERY_HEARTBEAT_SECONDS; silent this long, the request
# is gone (process killed) and the reaper ends the query in ERROR, freeing the user's slots.
QUERY_SYNC_STALE_AFTER_SECONDS = env_int("QUERY_SYNC_STALE_AFTER_SECONDS", 20, minimum=2)
if QUERY_SYNC_STALE_AFTER_SECONDS < 2 * QUERY_HEARTBEAT_SECONDS:
    raise EnvError("QUERY_SYNC_STALE_AFTER_SECONDS must be at least twice QUERY_HEARTBEAT_SECONDS")
# Periodic work: task name -> seconds between runs. Every worker runs this schedule itself (daiquiri/celery.py).
PERIODIC_TASKS: dict[str, float] = {
    "workers.query.reap_jobs": float(QUERY_REAPER_SECONDS),
    "workers.query.clean_scratch": 3600.0,
    "workers.heartbeat.purge_broker": 60.0,
}

# --- files ---
# Root volumes, set by the operator. Storage: backed up, a quota per user over
# all their volumes in it. Temporary: scratch, no quota, files older than
# max_age_days removed. Data: read-only published collections, one each
# (FILES_DATA_DIRS="name=/path,other=/path"; readable by every registered user).
FILES_DIR = env_path("FILES_DIR", VAR_DIR / "files")
FILES_ROOTS: list[dict[str, Any]] = [
    {"name": "Storage", "kind": "storage", "path": env_path("FILES_STORAGE_DIR", FILES_DIR / "storage"),
     "quota": env_int("FILES_STORAGE_QUOTA_BYTES", 10 * 1024**3, minimum=0), "description": "Backed up; counts against your quota."},
    {"name": "Temporary", "kind": "temporary", "path": env_path("FILES_TEMPORARY_DIR", FILES_DIR / "temporary"),
     "quota": env_int("FILES_TEMPORARY_QUOTA_BYTES", 20 * 1024**3, minimum=0),
     "max_age_days": env_int("FILES_TEMPORARY_MAX_AGE_DAYS", 30, minimum=1), "description": "Scratch space with a quota, cleaned by age."},
    *(
        {"name": name.strip(), "kind": "data", "path": Path(path.strip()), "description": "Published data (read-only)."}
        for name, _, path in (item.partition("=") for item in env_list("FILES_DATA_DIRS", []))
    ),
]
# Owner of files the portal writes when it runs as root; compute containers run as this uid too. A uid
# reserved for this, with no account on the host (system check files.W002), so that nothing a job leaves
# behind runs as a real user; users' areas are mounted nosuid,nodev and roots are 0700.
FILES_OWNER_UID = env_int("FILES_OWNER_UID", 70000, minimum=1)
FILES_OWNER_GID = env_int("FILES_OWNER_GID", 70000, minimum=1)
# Each user's area in a root with a quota (Storage, and now Temporary too) is a file system
# of the quota's size (apps/files/areas.py; needs root): on by default with a database server, off for the
# embedded SQLite set-up of scripts/run, which should not mount anything on a laptop.
FILES_QUOTA_FILESYSTEMS = env_bool("FILES_QUOTA_FILESYSTEMS", "sqlite" not in DATABASES["default"]["ENGINE"])
FILES_MAX_VOLUMES_PER_USER = env_int("FILES_MAX_VOLUMES_PER_USER", 50, minimum=2)

# --- compute ---
DOCKER_HOST = env_str("DOCKER_HOST", "unix:///var/lib/daiquiri-docker/docker.sock")  # scripts/services.d/30-docker
COMPUTE_PORTAL_URL = env_str("COMPUTE_PORTAL_URL", SITE_URL)  # how a job reaches the portal (DAIQUIRI_URL in the container)
COMPUTE_FAIRNESS_HOURS = env_int("COMPUTE_FAIRNESS_HOURS", 24, minimum=1)  # recent usage that lowers a user's priority
COMPUTE_LOG_BYTES = env_int("COMPUTE_LOG_BYTES", 1024 * 1024, minimum=1024)  # stdout/stderr kept per job (and the engine's log cap)
# Jobs have no network; a gateway container forwards a Unix socket to the portal's HTTP server (apps/compute/gateway.py).
COMPUTE_PORTAL_UPSTREAM = env_str("COMPUTE_PORTAL_UPSTREAM", "")  # host:port the gateway forwards to; empty: COMPUTE_PORTAL_URL's
COMPUTE_GATEWAY_IMAGE = env_str("COMPUTE_GATEWAY_IMAGE", "daiquiri/python:latest")  # has python3 and daiquiri_client.gateway
COMPUTE_GATEWAY_DIR = env_path("COMPUTE_GATEWAY_DIR", VAR_DIR / "compute" / "gateway")  # socket folders, mounted into jobs
COMPUTE_MAX_QUEUED_PER_USER = env_int("COMPUTE_MAX_QUEUED_PER_USER", 4, minimum=1)  # waiting or running jobs per user and domain
COMPUTE_MAX_RUNNING_PER_USER = env_int("COMPUTE_MAX_RUNNING_PER_USER", 1, minimum=1)  # running at once per user and domain
COMPUTE_MAX_MOUNTS = env_int("COMPUTE_MAX_MOUNTS", 32, minimum=1)  # volumes one job may mount
PERIODIC_TASKS["workers.compute.reap_jobs"] = 60.0
PERIODIC_TASKS["workers.compute.clean_temporary_files"] = 3600.0

# --- tap ---
TAP_UPLOAD_MAX_BYTES = env_int("TAP_UPLOAD_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)  # per UPLOAD table, inline or by URL
TAP_RESULT_LINK_SECONDS = env_int("TAP_RESULT_LINK_SECONDS", 24 * 3600, minimum=60)  # signed result links (SAMP) expire after this
TAP_UPLOAD_PRIVATE_HOSTS = env_bool("TAP_UPLOAD_PRIVATE_HOSTS", False)  # let UPLOAD URLs reach private/loopback hosts (intranets)

# --- tap upload bounds: refused before parsing (apps/formats/readers.py) ---
TAP_UPLOAD_MAX_COLUMNS = env_int("TAP_UPLOAD_MAX_COLUMNS", 1000, minimum=1)  # per UPLOAD table
TAP_UPLOAD_MAX_CELLS = env_int("TAP_UPLOAD_MAX_CELLS", 2_000_000, minimum=1)  # rows times columns, per UPLOAD table
