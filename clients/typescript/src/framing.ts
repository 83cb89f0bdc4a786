// Stream framing of Cap'n Proto messages, as gatehoused reads and writes them (docs/protocol.md,
// "Transport and framing"): a segment table (a u32 holding the segment count minus one, one u32
// size in words per segment, padded to 8 bytes), then the segments. The packed encoding is not used.
//
// A pure function, like the daemon's protocol/framing: bytes in; "need more bytes", "one frame of N
// bytes" or "bad input" out. Limits are checked from the segment table, before anything is copied.

export interface FrameLimits {
  /** The largest frame accepted, segment table included. */
  readonly maxFrameBytes: number;
  /** The most segments accepted in one frame. */
  readonly maxSegments: number;
}

export type FrameScan =
  | { readonly status: "needMore"; readonly bytes: number } // at least this many bytes in all
  | { readonly status: "frame"; readonly bytes: number } // a whole frame of this many bytes
  | { readonly status: "bad"; readonly error: string };

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Scans the frame that starts at `offset` in `bytes`. */
export function scanFrame(bytes: Uint8Array, offset: number, limits: FrameLimits): FrameScan {
  const available = bytes.length - offset;
  if (available < 4) return { status: "needMore", bytes: 8 };
  const countMinusOne = u32(bytes, offset);
  // Compared before adding one: 0xFFFFFFFF must not wrap to zero segments.
  if (countMinusOne >= limits.maxSegments) {
    return {
      status: "bad",
      error: `a frame declares ${countMinusOne + 1} segments; at most ${limits.maxSegments} are accepted`,
    };
  }
  const segments = countMinusOne + 1;
  const headerBytes = (4 + 4 * segments + 7) & ~7;
  if (available < headerBytes) return { status: "needMore", bytes: headerBytes };
  let total = headerBytes;
  for (let i = 0; i < segments; i++) {
    total += u32(bytes, offset + 4 + 4 * i) * 8;
    if (total > limits.maxFrameBytes) {
      return {
        status: "bad",
        error: `a frame declares more than ${limits.maxFrameBytes} bytes, the most accepted`,
      };
    }
  }
  if (available < total) return { status: "needMore", bytes: total };
  return { status: "frame", bytes: total };
}
