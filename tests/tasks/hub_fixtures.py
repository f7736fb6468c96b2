"""Write small datasets to disk in the layout of a Hugging Face hub repository, for offline tests.

A hub dataset repository is a README.md whose YAML front matter lists its configs (``configs:`` with a
``config_name`` and ``data_files`` per split) plus Parquet files, one folder per config
(``ARC-Easy/test-00000-of-00001.parquet``) or ``data/`` for a dataset with only the ``default`` config.
``datasets.load_dataset(directory, config, split=split)`` resolves the config name from that front
matter exactly as it does for the hub repository, with no network access, so a task spec can be loaded
from such a folder through its ``path`` override and the real config name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Rows = Sequence[Mapping[str, Any]]

DEFAULT_CONFIG = "default"
"""The config name of single-config datasets; ``load_dataset(path, None)`` selects it."""


def write_hub_dataset(root: Path, configs: Mapping[str, Mapping[str, Rows]]) -> Path:
    """Writes ``{config: {split: rows}}`` under ``root`` in hub layout and returns ``root``.

    Rows must use the dataset's own field names and Python types (they become the Parquet schema, as
    in the hub's files): a ``{"text": [...], "label": [...]}`` dict becomes a struct column, a list a
    list column, a bool a boolean column.
    """
    # Imported here so that collecting the tests without the [hf] extra skips them instead of failing.
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    front_matter = ["---", "configs:"]
    for config, splits in configs.items():
        folder = "data" if config == DEFAULT_CONFIG else config
        (root / folder).mkdir(parents=True, exist_ok=True)
        # json.dumps quotes the names, which YAML reads as plain strings (config names like "ARC-Easy").
        front_matter += [f"- config_name: {json.dumps(config)}", "  data_files:"]
        for split, rows in splits.items():
            relative = f"{folder}/{split}-00000-of-00001.parquet"
            pq.write_table(pa.Table.from_pylist([dict(row) for row in rows]), root / relative)
            front_matter += [f"  - split: {json.dumps(split)}", f"    path: {json.dumps(relative)}"]
    front_matter += ["---", "", "Test fixture in Hugging Face hub layout.", ""]
    (root / "README.md").write_text("\n".join(front_matter), encoding="utf-8")
    return root
