"""Summarise (and optionally verify) a data source.

Usage:
    python -m biogans_tf.data.inspect PATH_OR_SPEC [--verify] [--json] [--proteins A,B]
        [--image_size 48x80] [--channel_map red=0,green=1] [--data_dir DIR] [--manual_dir DIR]

PATH_OR_SPEC is anything `biogans_tf.data.sources.load` accepts (a LIN folder or zip, `sim`,
`tfds:<name>`, `own:<folder>`). Without `--verify` only one image per protein folder is decoded;
with it every image of every split is decoded and checked. Exit status 0 when all is well; on bad
input a one-line `error: <path>: <what was wrong>` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from biogans_tf.data.errors import DataError


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise DataError("--image_size", f"'{text}': expected HEIGHTxWIDTH, e.g. 48x80")
    return int(parts[0]), int(parts[1])


def _verify(data: str, summary: dict, args) -> dict:
    from biogans_tf.data import sources

    size = args.image_size or (tuple(summary["image_size"]) if summary.get("format") != "own" else None)
    result = {}
    for split in summary.get("splits") or ("train", "test"):
        cells = sources.load(
            data,
            split,
            proteins=args.proteins,
            image_size=size or sources.DEFAULT_IMAGE_SIZE,
            channel_map=args.channel_map,
            data_dir=args.data_dir,
            manual_dir=args.manual_dir,
        )
        means = cells.images.reshape(-1, 2).mean(axis=0) if len(cells) else [0.0, 0.0]
        result[split] = {
            "total": len(cells),
            "proteins": cells.counts(),
            "image_size": list(cells.image_size),
            "mean_red": round(float(means[0]), 3),
            "mean_green": round(float(means[1]), 3),
        }
    return result


def _human(summary: dict) -> str:
    lines = [f"data:       {summary['data']}", f"format:     {summary['format']}"]
    if summary.get("path"):
        lines.append(f"path:       {summary['path']}")
    if "prepared" in summary:
        lines.append(f"prepared:   {summary['prepared']}")
    size = summary.get("image_size")
    lines.append(f"image size: {size} (height, width)")
    lines.append(f"dtype:      {summary.get('dtype')}")
    lines.append(f"channels:   {summary.get('channels')}")
    proteins = summary.get("proteins") or []
    lines.append(f"proteins:   {len(proteins)}: {', '.join(proteins)}")
    splits = summary.get("splits") or {}
    lines.append(f"splits:     {', '.join(splits) or 'none prepared'}")
    for split, info in splits.items():
        lines.append(f"  {split}: {info['total']} images")
        for protein, n in (info.get("proteins") or {}).items():
            lines.append(f"    {protein:<16} {n}")
    if "verified" in summary:
        lines.append("verified:   every image decoded and checked")
        for split, info in summary["verified"].items():
            lines.append(
                f"  {split}: {info['total']} images OK, mean red {info['mean_red']}, "
                f"mean green {info['mean_green']}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m biogans_tf.data.inspect", description=__doc__.splitlines()[0]
    )
    parser.add_argument("data", help="LIN folder or .zip, sim, sim:<n>, tfds:<name>, own:<folder>")
    parser.add_argument("--verify", action="store_true", help="decode and check every image")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--proteins", default=None, help="comma-separated subset (with --verify)")
    parser.add_argument("--image_size", "--image-size", default=None, help="HEIGHTxWIDTH, e.g. 48x80")
    parser.add_argument("--channel_map", "--channel-map", default=None, help="own data: red=0,green=1")
    parser.add_argument("--data_dir", "--data-dir", default=None, help="TFDS data dir")
    parser.add_argument("--manual_dir", "--manual-dir", default=None, help="TFDS manual dir (tfds:lin)")
    args = parser.parse_args(argv)
    try:
        from biogans_tf.data import sources

        args.image_size = _parse_size(args.image_size) if args.image_size else None
        summary = sources.describe(
            args.data, image_size=args.image_size, channel_map=args.channel_map, data_dir=args.data_dir
        )
        if args.verify:
            summary["verified"] = _verify(args.data, summary, args)
    except DataError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:  # unreadable file/permissions: still one line, still naming the path
        print(f"error: {e.filename or args.data}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else _human(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
