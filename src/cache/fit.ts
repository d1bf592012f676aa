// Least-squares polynomial fit (numpy.polyfit's model, highest power first) for TeaCache's calibration: normal
// equations on x scaled to [−1, 1] (keeps x⁴ of small changes well conditioned), solved by Gaussian elimination with
// partial pivoting in float64, then unscaled.
export function polyfit(x: readonly number[], y: readonly number[], degree: number): number[] {
  if (x.length !== y.length || x.length <= degree) throw new RangeError(`Expected more than ${degree} points for a degree-${degree} fit but received ${x.length}`);
  const scale = Math.max(...x.map(Math.abs)) || 1;
  const n = degree + 1;
  const a = Array.from({ length: n }, () => new Float64Array(n + 1));
  for (let k = 0; k < x.length; k++) {
    const u = x[k]! / scale;
    const powers = Array.from({ length: n }, (_, i) => u ** i); // ascending
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i]![j]! += powers[i]! * powers[j]!;
      a[i]![n]! += powers[i]! * y[k]!;
    }
  }
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
    [a[c], a[pivot]] = [a[pivot]!, a[c]!];
    const p = a[c]![c]!;
    if (Math.abs(p) < 1e-300) throw new RangeError("Expected points that determine the polynomial, but the fit is singular (too few distinct x)");
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / p;
      for (let j = c; j <= n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  const ascending = Array.from({ length: n }, (_, i) => a[i]![n]! / a[i]![i]! / scale ** i);
  return ascending.reverse();
}
