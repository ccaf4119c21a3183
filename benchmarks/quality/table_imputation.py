"""Imputing a real table with gaps: the tabular VAE against scikit-learn's imputers.

Data: the 1996 American National Election Study table bundled with statsmodels (944
respondents, offline): population of the respondent's city (numeric), age and income
(integers), and seven categorical answers (TV news days, self / Clinton / Dole placement on
a 7-point scale, party identification, education, vote). `logpopul` is dropped (it is
log(popul)). Categories are coded 0..K-1 for the baselines, which round their imputations
to the nearest valid code, as a user of scikit-learn would; the VAE reads the table with
its types (`zoo.likelihoods.Tabular.from_table`) and returns categories.

Missingness, on each of SEEDS random draws:
  - MCAR: every cell is hidden with probability 0.2;
  - MNAR (self-masking): a cell above its column's median is hidden with probability 0.35,
    one at or below it with probability 0.05 (about 20 % in all).
Each method sees only the incomplete table and fills it in (the usual in-sample protocol
of imputation benchmarks; the hidden values are never seen). Figures over the hidden cells:
RMSE of the numeric and integer columns in units of each column's standard deviation
(averaged over the columns), and accuracy on the categorical columns.

Methods: column mean / most frequent; KNNImputer (k=5, standardised columns);
IterativeImputer (BayesianRidge, 10 rounds); MissForest-style IterativeImputer with a
RandomForestRegressor (100 trees, 10 rounds); the VAE (`zoo.VAE` over
`zoo.likelihoods.Tabular`, MLP 128-128, 8 latents, 200 epochs, Adam 1e-3, batch 64) with
`model.impute(table)` (pseudo-Gibbs, 8 chains, 200 steps), with importance-weighted
imputation (MIWAE-style, method="importance") and with the amortised posterior mean
(method="posterior", 128 codes, no chains). The VAE is trained once per draw and each
method imputes from that same model.

Every method sees the same masks, so differences are paired: the table gives each VAE
method's mean difference to the best baseline over the draws, with its standard error
(sd / sqrt(draws)); a "win" is claimed only when that difference is more than two
standard errors from zero.

    python benchmarks/quality/table_imputation.py            # ~25 min on 2 cores
    python benchmarks/quality/table_imputation.py --seeds 1 --epochs 20   # a quick look

Writes benchmarks/results/quality/table_imputation.json and .md.
"""

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo
from zoo.applications.imputation import METHODS

NUMERIC = ["popul", "age", "income"]
CATEGORICAL = ["TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "educ", "vote"]


def load_table():
    import statsmodels.api as sm

    table = sm.datasets.anes96.load_pandas().data
    table = table[NUMERIC + CATEGORICAL].copy()
    for name in ["age", "income"] + CATEGORICAL:
        table[name] = table[name].round().astype(int)
    return table


def hide(table, kind, rng):
    """A boolean mask of hidden cells (MCAR or MNAR); every row keeps one observed cell."""
    values = table.to_numpy(np.float64)
    if kind == "mcar":
        hidden = rng.random(values.shape) < 0.2
    else:
        above = values > np.median(values, axis=0)
        hidden = rng.random(values.shape) < np.where(above, 0.35, 0.05)
    full_rows = hidden.all(axis=1)
    hidden[full_rows, rng.integers(0, values.shape[1], full_rows.sum())] = False
    return hidden


def codes(table, cats=None):
    """Rows with categories as codes 0..K-1 (and the category lists, the complete table's
    unless given), for scikit-learn and the metrics."""
    rows = table.to_numpy(np.float64).copy()
    cats = dict(cats) if cats is not None else {}
    for j, name in enumerate(table.columns):
        if name in CATEGORICAL:
            cats.setdefault(j, np.unique(table[name]))
            rows[:, j] = np.searchsorted(cats[j], table[name].astype(np.int64))
    return rows, cats


def sklearn_imputers(seed):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    return {
        "mean / most frequent": None,  # per-column rule below
        "KNNImputer (k=5)": lambda: KNNImputer(n_neighbors=5),
        "IterativeImputer (BayesianRidge)": lambda: IterativeImputer(max_iter=10, random_state=seed),
        "MissForest-style (IterativeImputer + RandomForest)": lambda: IterativeImputer(
            estimator=RandomForestRegressor(n_estimators=100, n_jobs=2, random_state=seed),
            max_iter=10, random_state=seed),
    }


def sklearn_fill(name, make, rows, hidden, cats, seed):
    """Baseline imputation on coded, standardised rows; categories rounded to valid codes."""
    from sklearn.impute import SimpleImputer

    gaps = np.where(hidden, np.nan, rows)
    mean, std = np.nanmean(gaps, axis=0), np.nanstd(gaps, axis=0)
    standard = (gaps - mean) / std
    if make is None:
        cat_cols = sorted(cats)
        num_cols = [j for j in range(rows.shape[1]) if j not in cats]
        filled = standard.copy()
        filled[:, num_cols] = SimpleImputer(strategy="mean").fit_transform(standard[:, num_cols])
        filled[:, cat_cols] = SimpleImputer(strategy="most_frequent").fit_transform(standard[:, cat_cols])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IterativeImputer's early-stopping warning
            filled = make().fit_transform(standard)
    filled = filled * std + mean
    for j, categories in cats.items():
        filled[:, j] = np.clip(np.round(filled[:, j]), 0, len(categories) - 1)
    return filled


def vae_fill(table, hidden, cats, seed, epochs, methods):
    """The VAE's imputations, as coded rows, for each `model.impute` method."""
    gaps = table.mask(hidden)
    likelihood = zoo.likelihoods.Tabular.from_table(gaps, types={n: "categorical" for n in CATEGORICAL})
    keras.utils.set_random_seed(seed)
    model = zoo.VAE(input_shape=(table.shape[1],), latent_dim=8, hidden_dims=(128, 128),
                    likelihood=likelihood, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rows = likelihood.schema.encode(gaps)
    start = time.time()
    model.fit(zoo.data.from_arrays(rows, batch_size=64, shuffle=True, seed=seed, allow_missing=True),
              epochs=epochs, verbose=0)
    train_seconds = time.time() - start
    out = {}
    for method in methods:
        start = time.time()
        filled = model.impute(gaps, method=method, num_iterations=200, num_chains=8, seed=seed)
        out[method] = (codes(filled, cats)[0], time.time() - start)
    return out, train_seconds


def metrics(filled, truth, hidden, cats, std):
    """(normalised RMSE over the hidden numeric cells, accuracy over the hidden categorical)."""
    num = [j for j in range(truth.shape[1]) if j not in cats]
    rmse = [np.sqrt(np.mean(((filled[:, j] - truth[:, j])[hidden[:, j]] / std[j]) ** 2))
            for j in num if hidden[:, j].any()]
    cat_hidden = hidden[:, sorted(cats)]
    correct = (filled[:, sorted(cats)] == truth[:, sorted(cats)])[cat_hidden]
    return float(np.mean(rmse)), float(np.mean(correct))


def paired(runs, reference, key):
    """Mean and standard error of the per-draw difference `runs - reference` in `key`."""
    diff = np.array([r[key] for r in runs]) - np.array([r[key] for r in reference])
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return {"mean": float(diff.mean()), "stderr": se}


def difference(d, lower_is_better):
    """A paired difference as a cell; bold when it is a win by more than two standard errors."""
    if d is None:
        return ""
    text = f"{d['mean']:+.3f} ± {d['stderr']:.3f}"
    win = -d["mean"] if lower_is_better else d["mean"]
    return f"**{text}**" if win > 2 * d["stderr"] else text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=["pseudo_gibbs", "importance", "posterior"],
                        choices=list(METHODS))
    args = parser.parse_args(argv)

    table = load_table()
    truth, cats = codes(table)
    std = truth.std(axis=0)
    results = {}
    for kind in ("mcar", "mnar"):
        for seed in range(args.seeds):
            rng = np.random.default_rng(1000 * (kind == "mnar") + seed)
            hidden = hide(table, kind, rng)
            imputers = sklearn_imputers(seed)
            for name, make in imputers.items():
                start = time.time()
                filled = sklearn_fill(name, make, truth, hidden, cats, seed)
                rmse, acc = metrics(filled, truth, hidden, cats, std)
                results.setdefault(kind, {}).setdefault(name, []).append(
                    {"seed": seed, "rmse": rmse, "accuracy": acc, "seconds": time.time() - start})
            fills, train_seconds = vae_fill(table, hidden, cats, seed, args.epochs, args.methods)
            for method, (filled, seconds) in fills.items():
                rmse, acc = metrics(filled, truth, hidden, cats, std)
                results[kind].setdefault(f"zoo VAE, impute(method={method!r})", []).append(
                    {"seed": seed, "rmse": rmse, "accuracy": acc,
                     "seconds": seconds + train_seconds, "train_seconds": train_seconds})
            print(kind, seed, {k: (round(v[-1]["rmse"], 3), round(v[-1]["accuracy"], 3))
                               for k, v in results[kind].items()}, flush=True)

    rows, summary = [], {}
    for kind, methods in results.items():
        for name, runs in methods.items():
            rmse = np.array([r["rmse"] for r in runs])
            acc = np.array([r["accuracy"] for r in runs])
            summary.setdefault(kind, {})[name] = {
                "rmse_mean": float(rmse.mean()), "rmse_std": float(rmse.std()),
                "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                "seconds_mean": float(np.mean([r["seconds"] for r in runs]))}
        baselines = {k: v for k, v in summary[kind].items() if not k.startswith("zoo")}
        best_rmse_name = min(baselines, key=lambda k: baselines[k]["rmse_mean"])
        best_acc_name = max(baselines, key=lambda k: baselines[k]["accuracy_mean"])
        for name, s in summary[kind].items():
            if name.startswith("zoo"):
                s["rmse_vs_best"] = paired(methods[name], methods[best_rmse_name], "rmse")
                s["accuracy_vs_best"] = paired(methods[name], methods[best_acc_name], "accuracy")
            rows.append([kind.upper(), name,
                         f"{s['rmse_mean']:.3f} ± {s['rmse_std']:.3f}",
                         difference(s.get("rmse_vs_best"), lower_is_better=True),
                         f"{s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f}",
                         difference(s.get("accuracy_vs_best"), lower_is_better=False),
                         f"{s['seconds_mean']:.1f}"])
        summary[kind]["best_baseline"] = {
            "rmse": baselines[best_rmse_name]["rmse_mean"], "rmse_method": best_rmse_name,
            "accuracy": baselines[best_acc_name]["accuracy_mean"], "accuracy_method": best_acc_name}
    common.write_results(
        "table_imputation",
        {"data": "statsmodels anes96 (944 rows; 3 numeric/integer, 7 categorical columns)",
         "protocol": {"seeds": args.seeds, "mcar": 0.2, "mnar": "0.35 above median, 0.05 below",
                      "vae": {"epochs": args.epochs, "latent_dim": 8, "hidden_dims": [128, 128],
                              "num_iterations": 200, "num_chains": 8}},
         "summary": summary, "runs": results},
        rows, ["missingness", "method", "RMSE, numeric (std units, lower is better)",
               "RMSE − best baseline's (paired, ± se)", "accuracy, categorical",
               "accuracy − best baseline's (paired, ± se)", "seconds"],
        "python benchmarks/quality/table_imputation.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
