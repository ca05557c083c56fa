"""Upload the report directories under REPORTS to s3://BUCKET/NAMESPACE/ (files not there yet, or
changed since): run by the master's cacheswarm-upload.timer, and after a --foreground run.

    python upload_reports.py REPORTS BUCKET NAMESPACE
"""

from __future__ import annotations

import os
import sys

import boto3


def upload(reports: str, bucket: str, namespace: str) -> int:
    s3 = boto3.client("s3")
    sent = 0
    for root, _dirs, files in os.walk(reports):
        for name in files:
            path = os.path.join(root, name)
            key = f"{namespace}/{os.path.relpath(path, reports)}"
            size = os.path.getsize(path)
            try:
                if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size:
                    continue
            except s3.exceptions.ClientError:
                pass
            s3.upload_file(path, bucket, key)
            sent += 1
    return sent


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(f"uploaded {upload(*sys.argv[1:])} files to s3://{sys.argv[2]}/{sys.argv[3]}/")
