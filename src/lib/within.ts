// Waiting for work to wind down, but not forever (a daemon's shutdown).

/**
 * Waits until every promise has settled (fulfilled or rejected), at most ms; true when all of
 * them did in time. A rejection is no concern of the waiter's: the work reports its own errors.
 */
export async function settledWithin(ps: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  const all = [...ps]
  if (all.length === 0) return true
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([Promise.allSettled(all).then(() => true as const), late])
  } finally {
    clearTimeout(timer)
  }
}
