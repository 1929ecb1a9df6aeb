"""Summarise (and optionally verify) a data source.

Usage:
    python -m biogans_tf.data.inspection PATH_OR_SPEC [--verify] [--json] [--proteins A,B]
        [--image_size 48x80] [--channel_map red=0,green=1] [--data_dir DIR] [--manual_dir DIR]

PATH_OR_SPEC is anything `biogans_tf.data.sources.load` accepts (a LIN folder or zip, `sim`,
`tfds:<name>`, `own:<folder>`). Without `--verify` only one image per protein folder is decoded;
with it every image of every split is decoded and checked. Exit status 0 when all is well; on bad
input a one-line `error: <path>: <what was wrong>` on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys

from biogans_tf.conventions import DEFAULT_IMAGE_SIZE, parse_image_size
from biogans_tf.data.errors import DataError


def _verify(data: str, summary: dict, args) -> dict:
    from biogans_tf.data import sources

    size = args.image_size or (tuple(summary["image_size"]) if summary.get("format") != "own" else None)
    result = {}
    for split in summary.get("splits") or ("train", "test"):
        cells = sources.load(
            data,
            split,
            proteins=args.proteins,
            image_size=size or DEFAULT_IMAGE_SIZE,
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


def _define_flags(fv) -> None:
    from absl import flags

    kw = {"flag_values": fv}
    flags.DEFINE_bool("verify", False, "decode and check every image", **kw)
    flags.DEFINE_bool("json", False, "print the summary as JSON", **kw)
    flags.DEFINE_string("proteins", None, "comma-separated subset (with --verify)", **kw)
    flags.DEFINE_string("image_size", None, "HEIGHTxWIDTH, e.g. 48x80", **kw)
    flags.DEFINE_string("channel_map", None, "own data: red=0,green=1", **kw)
    flags.DEFINE_string("data_dir", None, "TFDS data dir", **kw)
    flags.DEFINE_string("manual_dir", None, "TFDS manual dir (tfds:lin)", **kw)


def main(argv=None) -> int:
    """Run the CLI: `inspect DATA [--verify] [--json] ...`; returns the exit status (0 ok, 2 bad input).

    Args:
        argv: the arguments without the program name (default `sys.argv[1:]`); DATA is a LIN
            folder or .zip, sim, sim:<n>, tfds:<name> or own:<folder>.
    """
    import types

    from biogans_tf.cli import UsageError, parse

    try:
        F, rest = parse(_define_flags, argv, __doc__, __name__, "biogans-data inspect")
        if len(rest) != 1:
            wanted = "one DATA argument (LIN folder/zip, sim, tfds:NAME, own:DIR)"
            raise UsageError(f"expected {wanted}; got {rest}")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args = types.SimpleNamespace(data=rest[0], **{name: F[name].value for name in F})
    try:
        from biogans_tf.data import sources

        args.image_size = parse_image_size(args.image_size, error=DataError) if args.image_size else None
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
