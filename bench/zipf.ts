/**
 * Zipf(s) picks over `items`: the item of rank k (1-based, in the given order) comes
 * with probability proportional to 1 / k^s. Sampling inverts the cumulative weights by
 * binary search, so a pick costs O(log n) and no allocation.
 */
export function zipfPick<T>(items: readonly T[], s: number, random = Math.random): () => T {
  if (items.length === 0) throw new Error("nothing to pick from");
  const cumulative = new Float64Array(items.length);
  let total = 0;
  for (let k = 0; k < items.length; k++) {
    total += 1 / (k + 1) ** s;
    cumulative[k] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = items.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cumulative[mid]! < target) low = mid + 1;
      else high = mid;
    }
    return items[low] as T;
  };
}

/** The items in a random order (Fisher-Yates), so popularity is not insertion order. */
export function shuffled<T>(items: readonly T[], random = Math.random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
