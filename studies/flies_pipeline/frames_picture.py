"""The first frames of a drawn video side by side, as one picture for the docs.

    python studies/flies_pipeline/frames_picture.py DRAWN_VIDEO OUT.png [--frames 0,1,2,3] [--width 1600] [--crop x,y,w,h]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("out")
    ap.add_argument("--frames", default="0,1,2,3")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--crop", help="x,y,w,h: the part of each frame shown (default: all)")
    args = ap.parse_args()
    want = [int(v) for v in args.frames.split(",")]
    cap = cv2.VideoCapture(args.video)
    got, i = {}, 0
    while len(got) < len(want):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{args.video}: ends at frame {i}, before {max(want)}")
        if i in want:
            if args.crop:
                x, y, w, h = (int(v) for v in args.crop.split(","))
                frame = np.ascontiguousarray(frame[y:y + h, x:x + w])
            for colour, width in (((0, 0, 0), 4), ((255, 255, 255), 1)):
                cv2.putText(frame, f"frame {i}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, width, cv2.LINE_AA)
            got[i] = frame
        i += 1
    row = np.hstack([got[i] for i in want])
    scale = args.width / row.shape[1]
    cv2.imwrite(args.out, cv2.resize(row, (args.width, int(row.shape[0] * scale)), interpolation=cv2.INTER_AREA))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
