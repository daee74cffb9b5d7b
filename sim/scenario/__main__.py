"""``python -m sim.scenario --write-schema [PATH]`` regenerates the JSON schema;
``--check`` exits 1 if the committed schema is stale."""

from __future__ import annotations

import argparse
import sys

from sim.scenario.schema import SCHEMA_PATH, schema_is_current, write_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.scenario", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schema", nargs="?", const=str(SCHEMA_PATH), metavar="PATH",
                       help=f"write the JSON schema (default: {SCHEMA_PATH})")
    group.add_argument("--check", action="store_true", help="exit 1 if the schema file is stale")
    args = parser.parse_args(argv)
    if args.check:
        ok = schema_is_current()
        print(f"{SCHEMA_PATH}: {'up to date' if ok else 'stale; run --write-schema'}")
        return 0 if ok else 1
    print(f"wrote {write_schema(args.write_schema)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
