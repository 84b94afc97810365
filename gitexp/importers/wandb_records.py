"""Print the records of a wandb transaction log (``run-<id>.wandb``) as JSON lines.

Run as a script (one or more log files as arguments) by the interpreter that has the
wandb package (``gitexp import wandb
--wandb-python``): it imports nothing of gitexp, only wandb's own protobuf schema, since
the records are wandb's protobuf messages and only wandb knows their shape.  wandb 0.2x
dropped its Python reader of these files; the framing below is the one the file has
always had, LevelDB's log format (32 KiB blocks of records, each with a 7-byte header:
checksum, length, kind) after wandb's 7-byte header (``:W&B``, magic, version).  A
record whose framing is torn (a run killed mid-write) ends the reading.

Exit status 3: wandb (or its schema) is not importable by this interpreter.
"""

from __future__ import annotations

import importlib
import json
import struct
import sys
from collections.abc import Iterator

HEADER = b":W&B"
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(data: bytes) -> Iterator[bytes]:
    if not data.startswith(HEADER):
        raise ValueError("not a wandb transaction log (no :W&B header)")
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        body = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if len(body) < length or kind not in (FULL, FIRST, MIDDLE, LAST):
            return  # torn or zero padding at the end
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        else:
            yield pending + body
            pending = b""


def main(paths: list[str]) -> int:
    """One JSON line per record: ``{"log": <index of its file>, "record": {...}}``; a
    file that cannot be read is one line ``{"log": <index>, "error": "..."}``."""
    try:
        schema = importlib.import_module("wandb.proto.wandb_internal_pb2")
        json_format = importlib.import_module("google.protobuf.json_format")
    except Exception as exc:
        print(f"wandb's record schema is not importable here: {exc}", file=sys.stderr)
        return 3
    out = sys.stdout
    for index, path in enumerate(paths):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            bodies = list(records(data))
        except (OSError, ValueError) as exc:
            out.write(json.dumps({"log": index, "error": str(exc)}) + "\n")
            continue
        for body in bodies:
            record = schema.Record()
            try:
                record.ParseFromString(body)
            except Exception:
                continue  # one damaged record; the others still count
            as_dict = json_format.MessageToDict(record, preserving_proto_field_name=True)
            out.write(json.dumps({"log": index, "record": as_dict}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
