"""Tables as users have them: a schema that turns a table into model rows and back.

A `TableSchema` is fitted once on the training table and saved with the model (inside its
`zoo.likelihoods.Tabular` likelihood), so that scoring and imputation read the user's own
columns and give back the user's own values: the string "Lyon", not the code 2.

Column types:
  - "numeric": real values; Gaussian in the model, decoded within the training range.
  - "integer": whole numbers with many distinct values (counts, ages); Gaussian in the
    model, decoded by rounding, within the training range.
  - "categorical": a finite set of values (strings, or integers with at most
    `max_categories` distinct values); categorical in the model, decoded to a value of
    the vocabulary.
  - "boolean": True / False; a categorical of two classes.

A numeric or integer column that is non-negative and strongly right-skewed (sample skewness
above `SKEW_FOR_LOG`, e.g. city populations or incomes) gets `"transform": "log1p"`: the
model works with log(1 + x), a shifted log-normal, so that its few huge values do not pull
the whole fit (HI-VAE's treatment of positive data). Override per column with
`TableSchema.infer(..., transforms={"popul": "none"})`.

Missing entries (NaN, None, empty cells) become NaN in the model's rows; the tabular
likelihood scores observed entries only, and `model.impute` fills them in.
"""

import numbers
import os
import sys
import warnings

import numpy as np

from zoo import validation

COLUMN_TYPES = ("numeric", "integer", "categorical", "boolean")
TRANSFORMS = ("none", "log1p")
#: Non-negative numeric columns with a sample skewness above this are modelled in log(1 + x).
SKEW_FOR_LOG = 2.0
#: Integer columns with at most this many distinct values are inferred as categorical.
MAX_CATEGORIES = 10
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _pandas():
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - pandas is a dependency
        raise ImportError("Tables need pandas: pip install pandas") from err
    return pandas


def is_table(value):
    """Whether `value` is a pandas DataFrame, as a bool. Every model method asks this of
    its input, so it does not import pandas: if pandas is not loaded, nothing can be a
    DataFrame."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def is_table_path(value):
    """Whether `value` is a str or path ending in a table suffix (.csv, .parquet, .pq),
    as a bool; the file need not exist."""
    return isinstance(value, (str, os.PathLike)) and str(value).lower().endswith(TABLE_SUFFIXES)


def read_table(source):
    """A pandas DataFrame from a DataFrame (copied), a `.csv` or a `.parquet` file.

    Empty cells of a CSV become missing values (NaN); column names come from the header.

    Args:
      source: a pandas DataFrame or a `.csv` / `.parquet` path.

    Returns:
      A new pandas DataFrame with str column names.

    Raises:
      TypeError: `source` is neither a DataFrame nor a table path.
      ValueError: missing or unreadable file, an empty table, or repeated column names.
      ImportError: a parquet file without pyarrow.
    """
    pandas = _pandas()
    if isinstance(source, pandas.DataFrame):
        table = source.copy()
    elif is_table_path(source):
        path = str(source)
        if not os.path.isfile(path):
            raise ValueError(f"No such table file. Received: data={path!r}")
        try:
            if path.lower().endswith(".csv"):
                table = pandas.read_csv(path, skipinitialspace=True)
            else:
                table = pandas.read_parquet(path)
        except ImportError as err:
            raise ImportError(f"Reading {path} needs pyarrow: pip install pyarrow") from err
        except Exception as err:  # pandas' parser errors have many types
            raise ValueError(f"Cannot read {path} as a table: {err}") from err
    else:
        raise TypeError("data must be a pandas DataFrame or a .csv / .parquet path. "
                        f"Received: data={source!r}")
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"The table is empty. Received: {table.shape[0]} rows, {table.shape[1]} columns")
    table.columns = [str(c) for c in table.columns]
    if len(set(table.columns)) != len(table.columns):
        raise ValueError(f"Table columns must have distinct names. Received: {list(table.columns)}")
    return table


def _python_value(value):
    """A JSON-friendly Python scalar for a vocabulary entry."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _sort_key(value):
    # Numbers in numeric order before strings: vocabularies of mixed columns stay stable.
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _is_whole(values):
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _infer_type(column, max_categories):
    """The type of a pandas Series from its dtype and its observed values."""
    pandas = _pandas()
    observed = column.dropna()
    if pandas.api.types.is_bool_dtype(column.dtype) or (
            len(observed) and all(isinstance(v, (bool, np.bool_)) for v in observed)):
        return "boolean"
    if pandas.api.types.is_numeric_dtype(column.dtype):
        values = observed.to_numpy(dtype=np.float64)
        # Integer columns with gaps arrive as floats: whole values mean integers.
        if _is_whole(values):
            return "categorical" if observed.nunique() <= max_categories else "integer"
        return "numeric"
    numeric = pandas.to_numeric(observed, errors="coerce")
    if len(observed) and numeric.notna().all():  # numbers stored as strings
        values = numeric.to_numpy(dtype=np.float64)
        if not _is_whole(values):
            return "numeric"
        return "categorical" if numeric.nunique() <= max_categories else "integer"
    return "categorical"


class TableSchema:
    """The columns of a table: their types, category vocabularies and ranges.

    Build one with `TableSchema.infer(table)`; `encode` turns a table into float rows
    `[n, D]` (categories as codes 0..K-1, missing entries as NaN), `decode` turns rows back
    into a DataFrame of the original types. `get_config()` / `from_config()` make it JSON.

    Args:
      columns: list of dicts, one per column: `name`, `type` (one of `COLUMN_TYPES`),
        `categories` (categorical, boolean) or `min` / `max` (numeric, integer), and
        optionally `transform` ("log1p" or "none", numeric and integer only).
    """

    def __init__(self, columns):
        if not isinstance(columns, (list, tuple)) or not columns:
            raise ValueError(f"columns must be a non-empty list of column dicts. Received: columns={columns!r}")
        self.columns = []
        for spec in columns:
            spec = dict(spec)
            kind = validation.one_of("type", spec.get("type"), COLUMN_TYPES)
            if kind in ("categorical", "boolean"):
                categories = [_python_value(v) for v in spec.get("categories") or []]
                if len(categories) < 2 or len(set(categories)) != len(categories):
                    raise ValueError(
                        f"Column {spec.get('name')!r} needs at least two distinct categories. "
                        f"Received: categories={categories!r}")
                spec["categories"] = categories
            else:
                spec["min"], spec["max"] = float(spec["min"]), float(spec["max"])
                transform = validation.one_of("transform", spec.get("transform", "none"), TRANSFORMS)
                if transform == "log1p" and spec["min"] <= -1:
                    raise ValueError(f"Column {spec.get('name')!r} has values <= -1 (min "
                                     f"{spec['min']:g}): log(1 + x) is undefined. Received: transform='log1p'")
                if transform != "none":
                    spec["transform"] = transform
                else:
                    spec.pop("transform", None)
            self.columns.append(spec)
        self.names = [c["name"] for c in self.columns]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def infer(cls, table, types=None, max_categories=MAX_CATEGORIES, transforms=None):
        """A schema fitted to `table` (a DataFrame or a .csv / .parquet path).

        Args:
          table: the training table.
          types: dict `{column: type}` overriding the inferred types, e.g.
            `{"zip": "categorical", "rooms": "integer"}`.
          max_categories: int. Whole-number columns with at most this many distinct values
            are categorical, others integer. Defaults to 10.
          transforms: dict `{column: "log1p" | "none"}` overriding the inferred transform of
            numeric and integer columns (by default "log1p" for non-negative columns with
            skewness above `SKEW_FOR_LOG`).

        Returns:
          A new `TableSchema`.

        Raises:
          ValueError: `types` names unknown columns or types, or a column has no observed
            value, a single value, or non-boolean values typed boolean.
        """
        table = read_table(table)
        types = dict(types or {})
        transforms = dict(transforms or {})
        unknown = sorted((set(types) | set(transforms)) - set(table.columns))
        if unknown:
            raise ValueError(f"types / transforms name columns the table does not have: {unknown}. "
                             f"Columns: {list(table.columns)}")
        max_categories = validation.positive_int("max_categories", max_categories)
        columns = []
        for name in table.columns:
            column = table[name]
            observed = column.dropna()
            if len(observed) == 0:
                raise ValueError(f"Column {name!r} has no observed values: drop it. "
                                 f"Received: {len(column)} missing entries")
            kind = validation.one_of(f"types[{name!r}]", types[name], COLUMN_TYPES) \
                if name in types else _infer_type(column, max_categories)
            if kind in ("categorical", "boolean"):
                categories = sorted({_python_value(v) for v in observed}, key=_sort_key)
                if kind == "boolean":
                    if not set(categories) <= {False, True, 0, 1}:
                        raise ValueError(f"Column {name!r} is boolean but holds "
                                         f"{categories[:5]!r}")
                    categories = [False, True]
                if len(categories) < 2:
                    raise ValueError(f"Column {name!r} holds one value ({categories[0]!r}) in "
                                     "every observed row: it carries no information; drop it.")
                columns.append({"name": name, "type": kind, "categories": categories})
            else:
                values = _numeric(column, name).dropna().to_numpy(np.float64)
                spec = {"name": name, "type": kind, "min": float(values.min()),
                        "max": float(values.max())}
                transform = (validation.one_of(f"transforms[{name!r}]", transforms[name], TRANSFORMS)
                             if name in transforms else _infer_transform(values))
                if transform != "none":
                    spec["transform"] = transform
                columns.append(spec)
            if name in transforms and "categories" in columns[-1]:
                raise ValueError(f"transforms[{name!r}] applies to numeric and integer columns; "
                                 f"{name!r} is {kind}. Received: {transforms[name]!r}")
        return cls(columns)

    def get_config(self):
        """JSON-serialisable dict `{"columns": [column dicts]}`."""
        return {"columns": [dict(c) for c in self.columns]}

    @classmethod
    def from_config(cls, config):
        """The schema from `get_config()`'s dict."""
        return cls(config["columns"])

    def __eq__(self, other):
        return isinstance(other, TableSchema) and self.columns == other.columns

    def __repr__(self):
        kinds = ", ".join(f"{c['name']}: {c['type']}" + (f" ({c['transform']})" if "transform" in c else "")
                          for c in self.columns)
        return f"TableSchema({kinds})"

    @property
    def categorical(self):
        """`{column index: number of categories}` of the categorical and boolean columns."""
        return {j: len(c["categories"]) for j, c in enumerate(self.columns) if "categories" in c}

    @property
    def log1p_columns(self):
        """Indices of the columns modelled in log(1 + x) units."""
        return [j for j, c in enumerate(self.columns) if c.get("transform") == "log1p"]

    # ------------------------------------------------------------------ rows
    def encode(self, table, unknown="error"):
        """Float32 rows `[n, D]`: numbers as they are, categories as codes, missing as NaN.

        Args:
          table: a DataFrame (or path) with (at least) the schema's columns.
          unknown: "error" (default) or "missing": what a category absent from the
            training table becomes.

        Returns:
          numpy float32 `[n, D]`, in the schema's column order.

        Raises:
          ValueError: missing columns, non-numeric or infinite numbers, or (with
            `unknown="error"`) an unknown category.
        """
        table = read_table(table)
        unknown = validation.one_of("unknown", unknown, ("error", "missing"))
        missing = [n for n in self.names if n not in table.columns]
        if missing:
            raise ValueError(f"The table lacks the model's columns {missing}. "
                             f"Received columns: {list(table.columns)}")
        rows = np.full((len(table), len(self.columns)), np.nan, np.float32)
        for j, spec in enumerate(self.columns):
            column = table[spec["name"]]
            present = column.notna().to_numpy()
            if "categories" in spec:
                index = {v: i for i, v in enumerate(spec["categories"])}
                codes = np.full(len(column), np.nan, np.float32)
                for i in np.flatnonzero(present):
                    value = _python_value(column.iloc[i])
                    if value not in index and spec["type"] == "categorical" and isinstance(value, str):
                        # "3" in a CSV read as text for a column of integer categories
                        try:
                            value = _python_value(float(value))
                        except ValueError:
                            pass
                    if value in index:
                        codes[i] = index[value]
                    elif unknown == "error":
                        raise ValueError(
                            f"Column {spec['name']!r} has a category the model never saw: "
                            f"{value!r} (row {i}). Known: {spec['categories'][:10]}. Pass "
                            "unknown='missing' to treat such entries as missing.")
                rows[:, j] = codes
            else:
                values = _numeric(column, spec["name"]).to_numpy(np.float64)
                if np.any(np.isinf(values)):
                    raise ValueError(f"Column {spec['name']!r} holds infinite values")
                rows[:, j] = values
        return rows

    def decode(self, rows, index=None):
        """A DataFrame of the original types from rows `[n, D]` (NaN stays missing).

        Numbers are clipped to the training range, integers rounded, codes mapped back to
        their categories.

        Args:
          rows: array `[n, D]`.
          index: optional index of the returned DataFrame (e.g. the input table's).

        Returns:
          A pandas DataFrame with the schema's columns: float, nullable `Int64`,
            `boolean` or object (categories) dtypes.
        """
        pandas = _pandas()
        rows = np.asarray(rows, np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.columns):
            raise ValueError(f"rows must have shape [n, {len(self.columns)}]. "
                             f"Received: rows.shape={list(rows.shape)}")
        data = {}
        for j, spec in enumerate(self.columns):
            values = rows[:, j]
            present = ~np.isnan(values)
            if "categories" in spec:
                codes = np.clip(np.round(np.where(present, values, 0)), 0,
                                len(spec["categories"]) - 1).astype(int)
                out = [spec["categories"][c] if p else None for c, p in zip(codes, present)]
                dtype = "boolean" if spec["type"] == "boolean" else None
                data[spec["name"]] = pandas.Series(out, dtype=dtype, index=index)
            else:
                values = np.clip(values, spec["min"], spec["max"])
                if spec["type"] == "integer":
                    data[spec["name"]] = pandas.Series(np.round(values), index=index).astype("Int64")
                else:
                    data[spec["name"]] = pandas.Series(values, index=index)
        return pandas.DataFrame(data, index=index)

    def valid_rows(self, rows):
        """Rows snapped to values the table can hold: codes to whole numbers in range,
        integers rounded, numbers within the training range (NaN stays NaN).

        Args:
          rows: array `[..., D]` (e.g. `[n, D]`, or draws `[chains, n, D]`).

        Returns:
          A new numpy float32 array shaped like `rows`.
        """
        rows = np.array(rows, np.float32, copy=True)
        columns = rows.reshape(-1, rows.shape[-1])  # a view: draws [chains, n, D] too
        for j, spec in enumerate(self.columns):
            if "categories" in spec:
                columns[:, j] = np.clip(np.round(columns[:, j]), 0, len(spec["categories"]) - 1)
            else:
                columns[:, j] = np.clip(columns[:, j], spec["min"], spec["max"])
                if spec["type"] == "integer":
                    columns[:, j] = np.round(columns[:, j])
        return rows

    def statistics(self, rows):
        """The standardisation of the tabular likelihood, from the observed entries of
        `rows` `[n, D]`.

        Returns:
          A tuple `(mean, std)` of numpy float64 `[D]`, in the columns' modelled units
            (log(1 + x) for log1p columns); mean 0 and std 1 for categorical columns, std 1
            for constant ones.
        """
        rows = np.array(rows, np.float64)
        log1p = self.log1p_columns
        rows[:, log1p] = np.log1p(rows[:, log1p])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
            mean = np.nan_to_num(np.nanmean(rows, axis=0))
            std = np.nan_to_num(np.nanstd(rows, axis=0))
        std = np.where(std > 1e-8, std, 1.0)
        for j in self.categorical:
            mean[j], std[j] = 0.0, 1.0
        return mean, std


def _infer_transform(values):
    """"log1p" for a non-negative, strongly right-skewed column, else "none"."""
    if len(values) < 3 or values.min() < 0 or values.std() == 0:
        return "none"
    skewness = np.mean((values - values.mean()) ** 3) / values.std() ** 3
    return "log1p" if skewness > SKEW_FOR_LOG else "none"


def _numeric(column, name):
    """A float Series of `column`, or a clear error naming the column's first non-number."""
    pandas = _pandas()
    values = pandas.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        first = column[bad].iloc[0]
        raise ValueError(f"Column {name!r} is numeric but holds {first!r} "
                         f"(row {int(np.flatnonzero(bad.to_numpy())[0])})")
    return values.astype(np.float64)

