#!/usr/bin/env python3
"""Copies a Windows executable and sets its PE subsystem: `console` (Windows gives it a console, cmd.exe waits
for it) or `windows` (no console). That is all `windows_subsystem` changes in a Rust program, so the console
twin emotion-monitor-cli.exe is emotion-monitor.exe with two bytes changed, built once.

    python3 scripts/windows/pe_subsystem.py SRC.exe DEST.exe console|windows
"""
import struct
import sys

SUBSYSTEMS = {"windows": 2, "console": 3}


def main(src: str, dest: str, kind: str) -> None:
    data = bytearray(open(src, "rb").read())
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if data[:2] != b"MZ" or data[pe : pe + 4] != b"PE\0\0":
        sys.exit(f"{src}: not a PE executable")
    optional = pe + 4 + 20  # signature, COFF file header
    (magic,) = struct.unpack_from("<H", data, optional)
    if magic not in (0x10B, 0x20B):
        sys.exit(f"{src}: unknown optional header 0x{magic:x}")
    # Subsystem sits at offset 68 of the optional header in PE32 and PE32+ alike.
    struct.pack_into("<H", data, optional + 68, SUBSYSTEMS[kind])
    open(dest, "wb").write(data)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in SUBSYSTEMS:
        sys.exit(__doc__)
    main(*sys.argv[1:])
