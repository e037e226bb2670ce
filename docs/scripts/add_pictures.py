"""Commit the pictures of one real `tgm train` run to the site: its PNGs go to docs/pictures/<model>-<data>/
(large ones shrunk) with a manifest.json saying the command, seed, commit, date, wall time, load
average and the run's held-out result (from its summary.json), which the model's page shows as each caption.

    python3 docs/scripts/add_pictures.py RUN_FOLDER --model unet --data nuclei --seed 0 \
        --date 2026-12-07T06:00:00Z --wall 81.2 --load "3.1 2.9 2.5"
"""

import argparse
import glob
import json
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LARGE = 400_000  # bytes; a larger PNG is shrunk to at most SIDE pixels on its longer side
SIDE = 1400
NOT_METRICS = ("interrupted", "epochs", "train_seconds", "data_wait_share")


def held_out(summary):
    """The run's numeric results from its summary.json, bookkeeping (epochs, seconds, data wait) left out."""
    return {
        key: value
        for key, value in summary.items()
        if key not in NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def copy_picture(source, target):
    """Copy a PNG; one over LARGE bytes is resized (aspect kept) to at most SIDE pixels and saved without its
    alpha channel, optimised. Still lossless: cutting to 256 colours put red specks in the grey micrographs."""
    if os.path.getsize(source) <= LARGE:
        shutil.copyfile(source, target)
        return
    from PIL import Image

    with Image.open(source) as image:
        image.thumbnail((SIDE, SIDE))
        image.convert("RGB").save(target, optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the --out folder of a finished `tgm train` run")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--date", required=True, help="UTC time the run started")
    parser.add_argument("--wall", type=float, required=True, help="wall-clock seconds of the whole command")
    parser.add_argument("--load", required=True, help="/proc/loadavg's three averages when it ended")
    parser.add_argument("--commit", help="the commit the run trained with (default: git rev-parse HEAD now)")
    args = parser.parse_args(argv)
    sources = sorted(glob.glob(os.path.join(args.run, "*.png")))
    if not sources:
        raise SystemExit(f"expected PNG pictures in {args.run}, found none")
    with open(os.path.join(args.run, "summary.json")) as handle:
        summary = json.load(handle)
    folder = os.path.join(ROOT, "docs", "pictures", f"{args.model}-{args.data}")
    os.makedirs(folder, exist_ok=True)
    for source in sources:
        copy_picture(source, os.path.join(folder, os.path.basename(source)))
    head = ["git", "rev-parse", "HEAD"]
    commit = args.commit or subprocess.run(head, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    manifest = {
        "model": args.model,
        "data": args.data,
        "command": f"tgm train {args.model} --data {args.data} --seed {args.seed}",
        "seed": args.seed,
        "commit": commit,
        "date": args.date,
        "wall_seconds": round(args.wall, 1),
        "train_seconds": summary.get("train_seconds"),
        "load_average": args.load,
        "metrics": held_out(summary),
        "pictures": [os.path.basename(source) for source in sources],
    }
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)
        handle.write("\n")
    print(f"wrote {folder}: {', '.join(manifest['pictures'])}, manifest.json")


if __name__ == "__main__":
    main()
