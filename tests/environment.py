"""Environment for the test run, loaded as a pytest plugin before Django settings are read.

Tests run with production-like settings (debug off). Only values a developer has not set are
filled in, so `DATABASE_URL=postgres://... pytest` selects PostgreSQL.
"""

import os

TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "THROTTLE_ANON_RATE": "100000/minute",
    "THROTTLE_USER_RATE": "100000/minute",
    "THROTTLE_AUTH_RATE": "100000/minute",
}

for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
