"""Password hashing: Argon2id at the OWASP Password Storage Cheat Sheet's first configuration.

Django's ``Argon2PasswordHasher`` already hashes with Argon2id; its defaults (100 MiB, 2
passes, 8 lanes) cost more memory per login than a small API pod should spend under a burst
of logins. OWASP's first recommended configuration is 19 MiB of memory, 2 iterations and 1
degree of parallelism (m=19456 KiB, t=2, p=1), the minimum it considers equivalent to its
other options. Changing these numbers later is safe: Django re-hashes a password at the next
successful login when the stored parameters differ (``must_update``), as it does for the
PBKDF2 hashes made before this hasher was first (``PASSWORD_HASHERS`` in settings).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

OWASP_MEMORY_KIB = 19 * 1024
OWASP_ITERATIONS = 2
OWASP_PARALLELISM = 1


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with m=19 MiB, t=2, p=1 (stored as ``argon2$argon2id$v=19$m=19456,t=2,p=1$...``)."""

    memory_cost = OWASP_MEMORY_KIB
    time_cost = OWASP_ITERATIONS
    parallelism = OWASP_PARALLELISM
