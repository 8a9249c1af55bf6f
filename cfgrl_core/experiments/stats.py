"""The statistics every notebook reports, the one rule that calls a difference a difference, and how they print.

Conventions (the same in every notebook, its Summary and the README):
    a table entry      mean ± std over seeds, the sample std (ddof = 1); NaN with a single seed
    a comparison       the paired difference over seeds (the same seed under both arms: common random numbers),
                       mean ± its standard error std(ddof = 1) / sqrt(n)
    the verdict rule   `beyond_noise`: a paired difference over n seeds counts only when a two-sided paired t-test
                       with n - 1 degrees of freedom rejects "no difference" at LEVEL (5 %): |mean| / SE beyond
                       the t quantile (3.18 for 4 seeds, 2.36 for 8), not a fixed "twice the SE"
    selection          `choose_by_validation`: per seed, the value with the best validation score, ties to the
                       smallest value; never the final evaluation

    mean_std(per_seed)                     -> (mean, std)
    mean_std_present(per_seed)             -> (mean, std) over the seeds that have a value (NaN: none)
    mean_se(differences)                   -> (mean, SE), along `axis`
    gap(differences)                       -> (mean, SE, n), the triple the verdict rule reads
    mean_difference(a, b, paired=...)      -> (mean(b) - mean(a), SE)
    p_value(mean, se, n)                   -> the paired t-test's two-sided p
    t_quantile(n)                          -> its critical |t| at LEVEL (the 95 % interval's half-width in SEs)
    beyond_noise(mean, se, n)              -> bool
    verdict(mean, se, n)                   -> "a difference: paired t-test over 4 seeds, p = 0.012" or "within the
                                              noise: paired t-test over 4 seeds, p = 0.12"
    pm(mean, std, ".1f")                   -> "12.5 ± 3.1"
    mlp_name((256, 256, 256))              -> "3×256"
"""

from __future__ import annotations

import numpy as np

LEVEL = 0.05  # the paired t-test's two-sided level: a difference is called one when p < LEVEL
RULE = "a paired t-test over seeds (n − 1 degrees of freedom, two-sided, 5 % level)"  # the rule in words, everywhere


def mean_std(values) -> tuple[float, float]:
    """(mean, std) of per-seed values [S], the std being the sample std over seeds (ddof = 1); with a single seed
    the std is undefined and reported as NaN (no warning)."""
    values = np.asarray(values, float)
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else float("nan"))


def mean_std_present(values) -> tuple[float, float]:
    """`mean_std` over the seeds that have a value (NaN marks a seed without one, e.g. every window diverged): the
    mean NaN when none has one, the std NaN with fewer than two."""
    v = np.asarray(values, float)
    return float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else np.nan


def mean_se(differences, axis=None):
    """(mean, standard error) of per-seed differences along `axis` (all of them by default): std(ddof = 1) /
    sqrt(n), NaN for a single seed. Floats for a vector; arrays along the other axes otherwise."""
    d = np.asarray(differences)
    n = d.size if axis is None else d.shape[axis]
    mean = d.mean(axis=axis)
    se = d.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.full_like(mean, np.nan, dtype=float)
    return (float(mean), float(se)) if np.ndim(mean) == 0 else (mean, se)


def gap(differences) -> tuple[float, float, int]:
    """(mean, SE, n) of a vector of per-seed paired differences: what `beyond_noise`, `verdict` and `p_value` read.
    A seed without a value (NaN) is left out of all three."""
    d = np.asarray(differences, float).ravel()
    d = d[np.isfinite(d)]
    return (*mean_se(d), int(d.size))


def mean_difference(a, b, *, paired: bool) -> tuple[float, float]:
    """mean(b) - mean(a) over seeds and its standard error: std(b - a, ddof = 1) / sqrt(n) when the seeds are paired
    (the same trained seeds under both), sqrt(var(a) + var(b)) / sqrt(n) when they are independent."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) < 2:
        return float(b.mean() - a.mean()), float("nan")
    se = (np.std(b - a, ddof=1) if paired else np.hypot(np.std(a, ddof=1), np.std(b, ddof=1))) / np.sqrt(len(a))
    return float(b.mean() - a.mean()), float(se)


def p_value(mean, se, n) -> float:
    """The two-sided p of a paired t-test of "no difference" from a mean difference, its SE and the number of pairs
    (t = mean / SE, n - 1 degrees of freedom). NaN with fewer than two pairs; with SE = 0 (every pair the same) 0 for a
    nonzero mean and 1 for a zero one."""
    from scipy import stats as scipy_stats

    mean, se, n = float(mean), float(se), int(n)
    if n < 2 or not np.isfinite(mean) or not se == se:
        return float("nan")
    if se == 0:
        return 0.0 if mean != 0 else 1.0
    return float(2 * scipy_stats.t.sf(abs(mean) / se, n - 1))


def t_quantile(n) -> float:
    """The paired t-test's critical |t| at LEVEL for n pairs (n - 1 degrees of freedom): 3.18 for 4, 2.36 for 8.
    A mean ± t_quantile(n) SE interval is the test's 95 % interval: it excludes 0 exactly when `beyond_noise`."""
    from scipy import stats as scipy_stats

    return float(scipy_stats.t.ppf(1 - LEVEL / 2, int(n) - 1))


def beyond_noise(mean, se, n) -> bool:
    """THE verdict rule: a paired difference over n seeds is a difference when the paired t-test rejects "no
    difference" at LEVEL (p < 0.05); never with fewer than two seeds."""
    p = p_value(mean, se, n)
    return bool(p == p and p < LEVEL)


def verdict(mean, se, n, unit: str = "seeds", test: str = "paired t-test") -> str:
    """'a difference: paired t-test over 4 seeds, p = 0.012' when `beyond_noise`, else 'within the noise: ...'; with
    no test possible (one seed, no SE) 'no test: 1 seeds', neither verdict; when every pair differs by the same
    nonzero amount (SE 0, p = 0: with success counted in whole episodes this can happen by chance) the text says so.
    `test` names the test in the text (e.g. an unpaired comparison run with the same n - 1 degrees of freedom, the
    stricter choice)."""
    p = p_value(mean, se, n)
    if p != p:
        return f"no test: {int(n)} {unit}"
    word = "a difference" if beyond_noise(mean, se, n) else "within the noise"
    text = f"{word}: {test} over {int(n)} {unit}, p = {p:.2g}"
    if float(se) == 0 and float(mean) != 0:  # the t statistic is unbounded: say so, not only that p is 0
        text += f", all {int(n)} differences equal (SE 0)"
    return text


def gap_text(gap: tuple[float, float, int]) -> str:
    """A paired gap (mean, SE, n) as every Summary writes it: '+7.5 ± 29.5 points (within the noise: ...)'."""
    mean, se, n = gap
    return f"{mean:+.1f} ± {se:.1f} points ({verdict(mean, se, n)})"


def pm(mean, std, fmt: str = ".1f") -> str:
    """'12.5 ± 3.1'; a std that is not a number (one seed) shows as '–'."""
    std = float(std)
    return f"{float(mean):{fmt}} ± " + (f"{std:{fmt}}" if std == std else "–")


def choose_by_validation(val_success, values) -> np.ndarray:
    """Per seed, the value with the highest mean validation success; ties go to the smallest such value.

    val_success [S, K, V] (0/1, K validation episodes or goals) -> chosen values [S] (float)."""
    rates = np.asarray(val_success, float).mean(axis=1)  # [S, V]
    return np.asarray(values, float)[np.argmax(rates, axis=1)]  # argmax returns the first (smallest) maximum


def mlp_name(widths) -> str:
    """(256, 256, 256) -> '3×256'; unequal widths joined by ×."""
    widths = tuple(widths)
    return f"{len(widths)}×{widths[0]}" if len(set(widths)) == 1 else "×".join(map(str, widths))
