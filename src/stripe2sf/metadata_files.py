"""Writing the SFDX metadata of `domain.setup.metadata` to a directory (CLI, demo, tests)."""

from __future__ import annotations

from pathlib import Path

from stripe2sf.domain.config import SyncConfig, default_config
from stripe2sf.domain.setup.metadata import generate_metadata


def write_metadata(directory: Path, config: SyncConfig | None = None) -> int:
    """Write the source-format files for `config` (default: the default mapping) under
    `directory`; returns how many files were written."""
    files = generate_metadata(config or default_config())
    for rel, text in files.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return len(files)
