"""The code asset as Pulumi ships it, zipped and measured: for `make bench` and the docs test that keeps
docs/performance.md's figures true. No side effects at import (bench/__main__.py sets its environment)."""

from __future__ import annotations

import io
import zipfile
from typing import Any


def code_asset() -> dict[str, Any]:
    """The zipped asset's size and file count, and whether it holds the handler and no AWS SDK."""
    from route_counter.infra.asset import asset_files, handler_files

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in asset_files().items():
            archive.write(path, name)
    names = list(asset_files())
    no_sdk = not any("boto" in n for n in names) and set(handler_files()) <= set(names)
    return {"bytes": len(buffer.getvalue()), "files": len(names), "only_handler": no_sdk}
