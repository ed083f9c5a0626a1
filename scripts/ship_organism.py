"""Ship a trained organism: copy the full-size seed-0 organism from a cache into the package
(kolang/organism/shipped/), re-measuring its Korean neurons (ablation and every intervention) with
today's code, so the card the package carries is what this code measures.

    kolang organism --train --cache CACHE --threads 1   # train the recipe (seed 0)
    python scripts/ship_organism.py CACHE               # copy it into the package and re-measure
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from kolang.io import atomic_dir, holds_only
from kolang.models import MODEL_FILES, set_threads
from kolang.organism.cache import SHIPPED, is_valid, organism_dir
from kolang.pipeline.organism import remeasure_neurons


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path, help="the cache folder the organism was trained into")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    source = organism_dir("full", args.cache, 0)
    if not is_valid(source, "full"):
        sys.exit(f"no complete full-size seed-0 organism of this version in {source}")
    set_threads(args.threads)
    with atomic_dir(SHIPPED, holds_only((*MODEL_FILES, "card.json")), what="shipped organism folder") as tmp:
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        remeasure_neurons(tmp)
    print(f"shipped {source} -> {SHIPPED}")


if __name__ == "__main__":
    main()
