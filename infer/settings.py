"""Settings for INFER, read from the environment (see .env.example for every variable)."""

import uuid
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("INFER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "djstripe",
    "django_celery_beat",
    "accounts",
    "billing",
    "usage",
    "payouts",
    "kyc",
]

MIDDLEWARE = [
    # First: a database outage anywhere below becomes a 503 with Retry-After, not a 500 (infer/unavailable.py).
    "infer.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.CurrentAccountMiddleware",
]

ROOT_URLCONF = "infer.urls"
ASGI_APPLICATION = "infer.asgi.application"

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
                "accounts.context_processors.current_account",
                "billing.context_processors.balance_alerts",
            ],
        },
    },
]

# SQLite by default so `make run` needs nothing installed; DATABASE_URL switches to PostgreSQL.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'infer.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for the writer instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

# django-allauth: email is the login; email verification is mandatory; TOTP MFA.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[INFER] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "INFER"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Private uploads (KYC documents) live outside any public path and are served only through views.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "INFER <billing@infer.local>")
ADMINS = [("Staff", a) for a in env_list("ADMINS_EMAILS", [])]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "infer.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "infer.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "INFER API",
    "DESCRIPTION": "Balances, usage, deposits, notifications and payouts. Amounts are USD strings; "
    "`*_nanos` fields are integer nano-dollars (1 USD = 1,000,000,000).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport (embedded broker).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "ledger-rollup": {"task": "billing.tasks.ledger_rollup", "schedule": 5.0},
    "holds-expire": {"task": "billing.tasks.holds_expire", "schedule": 30.0},
    "ledger-check": {"task": "billing.tasks.ledger_check_task", "schedule": 3600.0},
    "alerts-email-sweep": {"task": "billing.tasks.alerts_email_sweep", "schedule": 60.0},
}

# --- Money ------------------------------------------------------------------------------------
# Amounts are integer nano-dollars everywhere (see billing/money.py).
OPERATOR_SHARE_PERCENT = env_int("OPERATOR_SHARE_PERCENT", 80)
if not 0 <= OPERATOR_SHARE_PERCENT <= 100:
    raise ImproperlyConfigured("OPERATOR_SHARE_PERCENT must be between 0 and 100")
MIN_DEPOSIT_NANOS = env_int("MIN_DEPOSIT_NANOS", 5_000_000_000)
MAX_DEPOSIT_NANOS = env_int("MAX_DEPOSIT_NANOS", 0)  # 0: no maximum of ours
LOW_BALANCE_EMAIL_NANOS = env_int("LOW_BALANCE_EMAIL_NANOS", 5_000_000_000)
LOW_BALANCE_DESKTOP_NANOS = env_int("LOW_BALANCE_DESKTOP_NANOS", 1_000_000_000)
MIN_PAYOUT_NANOS = env_int("MIN_PAYOUT_NANOS", 10_000_000_000)
PAYOUT_KYC_THRESHOLD_NANOS = env_int("PAYOUT_KYC_THRESHOLD_NANOS", 500_000_000_000)
# A request's hold lives this long; a hold older than this belongs to a request that died.
HOLD_TIMEOUT_SECONDS = env_int("HOLD_TIMEOUT_SECONDS", 900)
MAX_IN_FLIGHT_PER_ACCOUNT = env_int("MAX_IN_FLIGHT_PER_ACCOUNT", 256)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Stripe (dj-stripe) ------------------------------------------------------------------------
# Webhooks are verified offline with the endpoint secret; see billing/stripe_gateway.py.
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
STRIPE_TEST_SECRET_KEY = env_str("STRIPE_TEST_SECRET_KEY", "")
STRIPE_LIVE_SECRET_KEY = env_str("STRIPE_LIVE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
# Card payments are on when the secret key of the current mode and the webhook secret are set.
# `python manage.py stripe_setup` writes dj-stripe's Account/APIKey/WebhookEndpoint rows from these
# (migrate does it too) and prints the webhook URL to register in Stripe's dashboard.
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_ACCOUNT_ID = env_str("STRIPE_ACCOUNT_ID", "acct_infer")
# The secret path of the webhook endpoint (/stripe/webhook/<uuid>/): stable per installation.
STRIPE_WEBHOOK_UUID = env_str("STRIPE_WEBHOOK_UUID", str(uuid.uuid5(uuid.NAMESPACE_URL, f"infer-stripe:{SECRET_KEY}")))
try:
    uuid.UUID(STRIPE_WEBHOOK_UUID)
except ValueError:
    raise ImproperlyConfigured(f"STRIPE_WEBHOOK_UUID must be a UUID, got {STRIPE_WEBHOOK_UUID!r}") from None
# Signed events older than this are refused (Stripe's replay protection).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20)

# The development node `make run` starts and seed_demo registers.
DEMO_NODE_URL = env_str("DEMO_NODE_URL", "http://127.0.0.1:8001")

# --- Gateway (usage/) --------------------------------------------------------------------------
# Largest request body /v1/ accepts (413 above it).
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 4_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, GATEWAY_MAX_BODY_BYTES + 1)
GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS = env_int("GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS", 3)
GATEWAY_NODE_READ_TIMEOUT_SECONDS = env_int("GATEWAY_NODE_READ_TIMEOUT_SECONDS", 300)
GATEWAY_NODE_MAX_CONNECTIONS = env_int("GATEWAY_NODE_MAX_CONNECTIONS", 1000)
# Routes (nodes per model) and the catalog are cached per process this long; a suspension takes
# effect within it.
GATEWAY_ROUTE_CACHE_SECONDS = env_int("GATEWAY_ROUTE_CACHE_SECONDS", 2)
# A node failing more than this share of recent requests is tried after the healthy ones.
GATEWAY_UNHEALTHY_ERROR_RATE_PERCENT = env_int("GATEWAY_UNHEALTHY_ERROR_RATE_PERCENT", 20)
# Metering: a node's count above ours by more than percent + tokens is a disagreement for staff.
GATEWAY_METERING_TOLERANCE_PERCENT = env_int("GATEWAY_METERING_TOLERANCE_PERCENT", 2)
GATEWAY_METERING_TOLERANCE_TOKENS = env_int("GATEWAY_METERING_TOLERANCE_TOKENS", 4)
# Group commit: most settlements one database transaction carries.
GATEWAY_SETTLE_BATCH_MAX = env_int("GATEWAY_SETTLE_BATCH_MAX", 200)
# A batch whose database connection was lost (a restart, a failover) is run again on a new connection
# for up to this long; its requests fail (unbilled) only if the database stays away longer.
GATEWAY_SETTLE_RECONNECT_SECONDS = env_int("GATEWAY_SETTLE_RECONNECT_SECONDS", 10)
# Threads (each keeps its own database connection) a gateway process uses for its sync database work:
# admission on the portable path (SQLite), route refreshes and GET /v1/models on PostgreSQL. Each is a
# PostgreSQL connection per gateway process: at 16 two processes and a soak's traffic met
# max_connections (100) on one machine; on PostgreSQL admission runs on the loop (usage/lean.py).
GATEWAY_DB_THREADS = env_int("GATEWAY_DB_THREADS", 4)
# Answer only once the request's settlement has committed (so the usage a client reads is stored).
GATEWAY_AWAIT_SETTLEMENT = env_bool("GATEWAY_AWAIT_SETTLEMENT", True)
# On PostgreSQL, POST /v1/chat/completions and /v1/completions bypass Django (usage/lean.py) and admit
# through their own async connection pool of this many connections per gateway process.
GATEWAY_LEAN_PATH = env_bool("GATEWAY_LEAN_PATH", True)
GATEWAY_DB_POOL_SIZE = env_int("GATEWAY_DB_POOL_SIZE", 8)
# Longest wait for a connection of that pool (the database away, or every connection busy): then a 503.
GATEWAY_DB_POOL_TIMEOUT_SECONDS = env_int("GATEWAY_DB_POOL_TIMEOUT_SECONDS", 10)

# --- Operators: node registration (usage/) -------------------------------------------------------
# The portal's test call to a new node (one chat completion of 1 token) must answer within this.
NODE_TEST_CALL_TIMEOUT_SECONDS = env_int("NODE_TEST_CALL_TIMEOUT_SECONDS", 20)
# Nodes registered in the portal must resolve to public addresses, so nobody can point the gateway at
# the platform's own network; development (DEBUG) allows loopback and private addresses for demo nodes.
NODE_ALLOW_PRIVATE_ADDRESSES = env_bool("NODE_ALLOW_PRIVATE_ADDRESSES", DEBUG)

# --- Chains: USDC deposits and payouts (billing/chains/, payouts/) -------------------------------
# Deposits: a Celery beat task per network scans for USDC transfers to our deposit addresses and
# credits them once their block is finalized and still canonical (billing/chains/). A network whose
# RPC URL is blank is not scanned.
CHAIN_NETWORKS = ("ethereum", "base", "solana")
CHAIN_ETHEREUM_RPC_URL = env_str("CHAIN_ETHEREUM_RPC_URL", "")
CHAIN_BASE_RPC_URL = env_str("CHAIN_BASE_RPC_URL", "")
CHAIN_SOLANA_RPC_URL = env_str("CHAIN_SOLANA_RPC_URL", "")
# The only token that counts on each network (6 decimals); check against Circle's list before production.
CHAIN_USDC_ETHEREUM = env_str("CHAIN_USDC_ETHEREUM", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
CHAIN_USDC_BASE = env_str("CHAIN_USDC_BASE", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
CHAIN_USDC_SOLANA = env_str("CHAIN_USDC_SOLANA", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
CHAIN_SCAN_INTERVAL_SECONDS = env_int("CHAIN_SCAN_INTERVAL_SECONDS", 30)
CHAIN_SCAN_RANGE_BLOCKS = env_int("CHAIN_SCAN_RANGE_BLOCKS", 500)  # eth_getLogs block range per call
CHAIN_SCAN_MAX_RANGES = env_int("CHAIN_SCAN_MAX_RANGES", 20)  # ranges per run; the rest waits for the next
CHAIN_SCAN_ADDRESSES_PER_CALL = env_int("CHAIN_SCAN_ADDRESSES_PER_CALL", 100)  # recipients per eth_getLogs
CHAIN_SOLANA_PAGE_SIZE = env_int("CHAIN_SOLANA_PAGE_SIZE", 1000)  # getSignaturesForAddress limit
# Where a network's first scan starts; -1: its finalized block at that moment.
CHAIN_ETHEREUM_START_BLOCK = env_int("CHAIN_ETHEREUM_START_BLOCK", -1)
CHAIN_BASE_START_BLOCK = env_int("CHAIN_BASE_START_BLOCK", -1)
CHAIN_RPC_TIMEOUT_SECONDS = env_int("CHAIN_RPC_TIMEOUT_SECONDS", 10)
CHAIN_RPC_ATTEMPTS = env_int("CHAIN_RPC_ATTEMPTS", 5)  # per RPC call, with exponential backoff
CHAIN_RPC_BACKOFF_MS = env_int("CHAIN_RPC_BACKOFF_MS", 500)
for _network in CHAIN_NETWORKS:
    CELERY_BEAT_SCHEDULE[f"chain-scan-{_network}"] = {
        "task": "billing.tasks.chain_scan",
        "schedule": float(CHAIN_SCAN_INTERVAL_SECONDS),
        "args": (_network,),
    }

# HD deposit addresses (BIP-44). Ethereum and Base derive from account-level extended public keys
# (m/44'/60'/0'), so the web tier holds no private key. Solana (ed25519) derives only hardened
# children, so its addresses need the seed: only the deposit worker may have DEPOSIT_SEED_SOLANA;
# the web tier shows the addresses the worker stored. With DEBUG on, blank values fall back to
# keys from the public test mnemonic "abandon abandon ... about": never send real funds to them.
DEPOSIT_XPUB_ETHEREUM = env_str("DEPOSIT_XPUB_ETHEREUM", "")
DEPOSIT_XPUB_BASE = env_str("DEPOSIT_XPUB_BASE", "")
DEPOSIT_SEED_SOLANA = env_str("DEPOSIT_SEED_SOLANA", "")  # hex BIP-39 seed; deposit worker only
if DEBUG:
    _DEMO_XPUB = (
        "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjt"
        "EshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
    )
    _DEMO_SEED = (
        "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1"
        "9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
    )
    DEPOSIT_XPUB_ETHEREUM = DEPOSIT_XPUB_ETHEREUM or _DEMO_XPUB
    DEPOSIT_XPUB_BASE = DEPOSIT_XPUB_BASE or _DEMO_XPUB
    DEPOSIT_SEED_SOLANA = DEPOSIT_SEED_SOLANA or _DEMO_SEED

# --- Balance notifications ---------------------------------------------------------------------

# --- Payouts -----------------------------------------------------------------------------------
# A new or changed payout destination can receive money only after this long.
PAYOUT_DESTINATION_LOCK_SECONDS = env_int("PAYOUT_DESTINATION_LOCK_SECONDS", 24 * 3600)
# A payout's hold on earnings outlives any normal approval and confirmation; holds_expire and
# check_ledger treat a hold past its expiry as abandoned, so keep this long.
PAYOUT_HOLD_TTL_SECONDS = env_int("PAYOUT_HOLD_TTL_SECONDS", 90 * 24 * 3600)
# KYC-verified operators' payouts up to this amount skip finance review (0: every payout is reviewed).
PAYOUT_AUTO_APPROVE_MAX_NANOS = env_int("PAYOUT_AUTO_APPROVE_MAX_NANOS", 0)
# The platform's hot wallet on Ethereum and Base (one EVM key). Secret: never logged or shown.
PAYOUT_HOT_WALLET_PRIVATE_KEY = env_str("PAYOUT_HOT_WALLET_PRIVATE_KEY", "")
# The RPC endpoints and USDC contracts are the deposits' (CHAIN_<NETWORK>_RPC_URL, CHAIN_USDC_<NETWORK>),
# read from the same variables so both always agree.
PAYOUT_EVM_NETWORKS = {
    "ethereum": {
        "rpc_url": env_str("CHAIN_ETHEREUM_RPC_URL", ""),
        "usdc": env_str("CHAIN_USDC_ETHEREUM", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
    },
    "base": {
        "rpc_url": env_str("CHAIN_BASE_RPC_URL", ""),
        "usdc": env_str("CHAIN_USDC_BASE", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
    },
}
PAYOUT_GAS_LIMIT = env_int("PAYOUT_GAS_LIMIT", 120_000)
# Bank payouts through Stripe Connect transfers (uses STRIPE_*_SECRET_KEY); the API base can point
# at a local Stripe mock.
PAYOUT_STRIPE_API_BASE = env_str("PAYOUT_STRIPE_API_BASE", "https://api.stripe.com")
CELERY_BEAT_SCHEDULE["payouts-confirm"] = {"task": "payouts.tasks.payouts_confirm", "schedule": 30.0}

# --- KYC and violations ------------------------------------------------------------------------
# Identity documents: JPEG, PNG or PDF (checked by their first bytes) up to this size.
KYC_MAX_DOCUMENT_BYTES = env_int("KYC_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024)
# Documents of a closed Account are erased this many days after it closed (kyc.tasks, daily).
KYC_DOCUMENT_RETENTION_DAYS = env_int("KYC_DOCUMENT_RETENTION_DAYS", 5 * 365)
# Automatic violations: this many disputed usage records of one operator within the window files one.
KYC_METERING_DISAGREEMENTS_THRESHOLD = env_int("KYC_METERING_DISAGREEMENTS_THRESHOLD", 20)
KYC_METERING_WINDOW_SECONDS = env_int("KYC_METERING_WINDOW_SECONDS", 24 * 3600)
KYC_METERING_VIOLATION_SEVERITY = env_str("KYC_METERING_VIOLATION_SEVERITY", "medium")
if KYC_METERING_VIOLATION_SEVERITY not in ("low", "medium", "high"):
    raise ImproperlyConfigured("KYC_METERING_VIOLATION_SEVERITY must be low, medium or high")
if KYC_MAX_DOCUMENT_BYTES <= 0 or KYC_METERING_DISAGREEMENTS_THRESHOLD <= 0 or KYC_METERING_WINDOW_SECONDS <= 0:
    raise ImproperlyConfigured("KYC_* sizes, thresholds and windows must be positive")
CELERY_BEAT_SCHEDULE |= {
    "kyc-metering-check": {"task": "kyc.tasks.metering_disagreements_check_task", "schedule": 900.0},
    "kyc-documents-retention": {"task": "kyc.tasks.kyc_documents_retention_task", "schedule": 86400.0},
}

# --- Usage API, rollup and retention (usage/) ----------------------------------------------------
# The daily rollup sums UsageRecords older than this: a settlement's transaction (milliseconds) is
# long committed by then, so no record below the watermark can still appear (see usage_rollup).
USAGE_ROLLUP_LAG_SECONDS = env_int("USAGE_ROLLUP_LAG_SECONDS", 60)
# Raw usage records are deleted after this many days (0: kept forever); daily rollups are kept.
USAGE_RETENTION_DAYS = env_int("USAGE_RETENTION_DAYS", 400)
if USAGE_ROLLUP_LAG_SECONDS < 0 or USAGE_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("USAGE_ROLLUP_LAG_SECONDS and USAGE_RETENTION_DAYS must not be negative")
CELERY_BEAT_SCHEDULE |= {
    "usage-rollup": {"task": "usage.tasks.usage_rollup_task", "schedule": 30.0},
    "usage-retention": {"task": "usage.tasks.usage_records_purge_task", "schedule": 3600.0},
}
