"""Presigned download URLs: the one place the counter uses botocore with the lean writer, and only on a
download route. The S3 client is created on the first download, so counting any other route never
imports botocore at all (`make bench` shows a cold start with downloads configured)."""

from __future__ import annotations

import os
from typing import Any

from ..rules.links import Download

URL_SECONDS = 60  # how long a download link works: long enough to follow the 302, too short to share

_s3: Any = None


def _client() -> Any:
    global _s3
    if _s3 is None:
        import botocore.session
        from botocore.config import Config

        # The region explicitly: botocore's session reads AWS_DEFAULT_REGION, Lambda's own is AWS_REGION.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        _s3 = botocore.session.get_session().create_client(
            "s3", region_name=region, config=Config(signature_version="s3v4")
        )
    return _s3


def presign(bucket: str, download: Download) -> str:
    """A GET URL for exactly this object, valid URL_SECONDS, that makes the browser save it as a file.
    Signing is local (no request); the function's role grants s3:GetObject on this object only."""
    return str(
        _client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": download.key,
                "ResponseContentDisposition": f'attachment; filename="{download.filename}"',
            },
            ExpiresIn=URL_SECONDS,
        )
    )
