/**
 * Label values given as a list in the order of a metric's label names, the way the request path's
 * metrics take them (`PendingCounter`, `FastHistogram`): one string key per combination, and the labels
 * object prom-client prints, built once per combination.
 */

/** The key of a combination of label values. */
export function labelKey(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : values.join('\u0000');
}

/** The labels object of a combination: each name with the value at its position. */
export function labelsOf<L extends string>(
  names: readonly L[],
  values: readonly string[],
): Record<L, string> {
  const labels = {} as Record<L, string>;
  names.forEach((name, i) => (labels[name] = values[i]!));
  return labels;
}
