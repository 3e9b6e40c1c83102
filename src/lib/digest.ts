/** A content digest; berth stores only sha256. The engine's digest module builds on this type. */
export type Digest = `sha256:${string}`
