"""Fill in the missing cells of a table (.csv, .parquet) with a model trained on such a table,
and write the completed table as CSV in the table's own values: a category for a categorical
column, a whole number for an integer column, a number within the training range otherwise.
Observed cells are copied unchanged. With --num-draws N, N completed tables (multiple
imputation: categories sampled, not the most probable) go to one CSV with a `draw` column.
"""

import json

from zoo.applications import imputation
from zoo.cli import common

NAME = "impute"
HELP = "fill in the missing cells of a table; writes CSV"


def add_arguments(p):
    common.add_model_arg(p)
    p.add_argument("--dataset", "--data", dest="dataset", required=True,
                   help="the table with missing cells (.csv or .parquet)")
    p.add_argument("--split", default="train",
                   help="rows to impute, e.g. train[:1000] (default: train, every row)")
    p.add_argument("--method", default=None, choices=imputation.METHODS,
                   help="imputation method (default: posterior, one pass through the encoder "
                        "trained on the table's gaps)")
    p.add_argument("--num-iterations", type=int, default=100, help="chain steps (default: 100)")
    p.add_argument("--num-chains", type=int, default=8, help="chains per row (default: 8)")
    p.add_argument("--num-draws", type=int, default=None,
                   help="write this many completed tables (multiple imputation) instead of the "
                        "single most probable completion")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--output", "-o", default="imputed.csv", help="CSV file (default: imputed.csv)")


def run(args):
    import pandas

    import zoo
    from zoo import io_utils, tables

    if not tables.is_table_path(args.dataset):
        raise ValueError(f"--dataset must be a table (.csv or .parquet). Received: --dataset {args.dataset}")
    model = zoo.load_model(args.model)
    if getattr(model.likelihood, "schema", None) is None:
        raise ValueError(f"{args.model} was not trained on a table (it has no table schema); "
                         "train one with vaezoo train --dataset table.csv")
    table = zoo.data.table_split(args.dataset, args.split)
    missing = int(table[model.likelihood.schema.names].isna().to_numpy().sum())
    method = args.method or imputation.default_method(model)
    result = model.impute(table, method=method, num_iterations=args.num_iterations,
                          num_chains=args.num_chains, seed=args.seed, num_draws=args.num_draws)
    if args.num_draws is not None:
        result = pandas.concat([d.assign(draw=i) for i, d in enumerate(result)])
    io_utils.write_text(args.output, result.to_csv(index=False))
    print(json.dumps({"model": args.model, "dataset": args.dataset, "split": args.split,
                      "rows": len(table), "cells_filled": missing, "method": method,
                      "num_draws": args.num_draws, "output": args.output}, indent=2))
    return 0
