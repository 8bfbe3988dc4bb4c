"""Environment for the test run, loaded as a pytest plugin before Django settings are read.

Tests run with production-like settings (debug off). Only values a developer has not set are
filled in, so `DATABASE_URL=postgres://... pytest` selects PostgreSQL.
"""

import atexit
import os
import shutil
import tempfile

TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "THROTTLE_ANON_RATE": "100000/minute",
    "THROTTLE_USER_RATE": "100000/minute",
    "THROTTLE_AUTH_RATE": "100000/minute",
}

# Exports requested by any test (in-process, or a server the test started without a broker
# of its own) go to this run's temporary folders, never to make run's var/ in the checkout.
_JOBS_DIR = tempfile.mkdtemp(prefix="todo-tests-jobs-")
atexit.register(shutil.rmtree, _JOBS_DIR, ignore_errors=True)
TEST_ENVIRONMENT.update(
    {
        "CELERY_FILESYSTEM_BROKER_DIR": os.path.join(_JOBS_DIR, "broker"),
        "CELERY_BEAT_SCHEDULE_FILENAME": os.path.join(_JOBS_DIR, "beat-schedule"),
        "EXPORT_STORAGE_DIR": os.path.join(_JOBS_DIR, "exports"),
    }
)

for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
