/** Small helpers shared by the layout packers. */

export function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

/** Throws a descriptive error when a component has the wrong length (a corrupt or mismatched pack). */
export function expectLength(name: string, arr: { length: number }, expected: number): void {
  if (arr.length !== expected) {
    throw new Error(`quant layout: component '${name}' has ${arr.length} elements, expected ${expected}`);
  }
}

export function checkShape(N: number, K: number): void {
  if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0) {
    throw new Error(`quant layout: bad shape [${N}, ${K}]`);
  }
}
