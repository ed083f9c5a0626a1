"""Measure the Korean neurons of trained organisms again with today's code: each card's `korean_neurons` is
rewritten, the weights are untouched. Run it on retrained seeds before collecting their cards into the README:

    python scripts/remeasure_cards.py CACHE/organism-6 CACHE/organism-6-seed1 …
    python scripts/readme.py --collect-seeds CACHE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kolang.models import set_threads
from kolang.organism.cache import is_valid
from kolang.pipeline.organism import remeasure_neurons


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", type=Path, nargs="+", help="organism folders (a cache's organism-* folders)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    bad = [str(f) for f in args.folders if not is_valid(f)]
    if bad:
        sys.exit(f"not a complete organism of this version: {', '.join(bad)}")
    set_threads(args.threads)
    for folder in args.folders:
        remeasure_neurons(folder)
        print(f"re-measured {folder}")


if __name__ == "__main__":
    main()
