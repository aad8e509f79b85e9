"""Database adapters: each reads one licensed database exactly as its release ships.

`read_database(name, root)` is the one entry point; `ADAPTERS` maps the adapter keys used in
params.yaml (`index.use`) to the functions that read them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from pipeline.databases.casme import read_casme
from pipeline.databases.casme2 import read_casme2
from pipeline.databases.casme3 import read_casme3
from pipeline.databases.casme_sq import read_casme_sq
from pipeline.databases.common import AdapterResult, DatabaseError
from pipeline.databases.fourdme import read_fourdme
from pipeline.databases.mmew import read_mmew
from pipeline.databases.samm import read_samm
from pipeline.databases.smic import read_smic
from pipeline.databases.videos import read_videos

ADAPTERS: dict[str, Callable[[Path | str], AdapterResult]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic_hs": partial(read_smic, modality="HS"),
    "smic_vis": partial(read_smic, modality="VIS"),
    "smic_nir": partial(read_smic, modality="NIR"),
    "casme": read_casme,
    "casme3": read_casme3,
    "casme_sq": read_casme_sq,
    "mmew": read_mmew,
    "fourdme": read_fourdme,
    "videos": read_videos,
}


def read_database(name: str, root: Path | str) -> AdapterResult:
    """Clips and row issues of database `name` (an ADAPTERS key) found under `root`."""
    if name not in ADAPTERS:
        raise DatabaseError(f"unknown database {name!r}; choose from {', '.join(ADAPTERS)}")
    return ADAPTERS[name](Path(root))
