"""Static files storage: hashed names and gzip copies, served by WhiteNoise."""

from typing import Any

from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    """WhiteNoise's manifest storage, gzip only.

    Brotli, when the package happens to be installed (a load-testing dependency pulls it in),
    made `collectstatic` take ~35 s of CPU instead of ~2.5 s; gzip is what the production
    image ships either way.
    """

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return Compressor(use_brotli=False, **kwargs)
