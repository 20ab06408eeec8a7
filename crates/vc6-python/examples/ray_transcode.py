"""Transcode a folder of images to vc6 with Ray Data, then read it back at LoQ 1.

    python examples/ray_transcode.py SRC_DIR DST_DIR [--quality Q] [--num-cpus N]

Starts a local Ray instance (``ray.init(num_cpus=N)``) unless ``RAY_ADDRESS`` names a
cluster; on a cluster, SRC_DIR and DST_DIR must be on a filesystem every node sees.
"""

import argparse
import sys

import ray

import vc6rs.ray


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--quality", type=float, default=None)
    p.add_argument("--num-cpus", type=int, default=None)
    a = p.parse_args(argv)

    ray.init(num_cpus=a.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        summary = vc6rs.ray.transcode_dataset(a.src, a.dst, quality=a.quality)
        print(f"encoded {summary['encoded']}, skipped {summary['skipped']}, "
              f"failed {len(summary['failed'])}, {summary['bytes_out']} bytes")
        for path, why in summary["failed"]:
            print(f"  {path}: {why}", file=sys.stderr)
        # Thumbnails straight from the streams: LoQ 1 is half size.
        for row in vc6rs.ray.read_vc6(a.dst, loq=1).iter_rows():
            print(f"{row['path']}: {row['image'].shape} {row['image'].dtype}")
    finally:
        ray.shutdown()
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
