"""Tables as users have them: the schema, training with missing cells, imputation that gives
back valid values of the table's own types, and the command line on a CSV."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import zoo
from zoo import cli, distributions, likelihoods, tables
from zoo.applications import imputation

CITIES = ["Lille", "Lyon", "Nice", "Paris"]


def people(n=800, missing=0.15, seed=0):
    """A table with a string, an integer, a numeric and a boolean column, where the city
    fixes the income level (so a model can recover a hidden city from the income), and a
    share `missing` of cells empty (MCAR). Returns (complete table, table with gaps)."""
    rng = np.random.default_rng(seed)
    city = rng.integers(0, 4, n)
    age = rng.integers(18, 80, n)
    income = 20_000 + 15_000 * city + 100 * age + rng.normal(0, 1_000, n)
    complete = pd.DataFrame({"city": np.array(CITIES)[city], "age": age,
                             "income": income.round(2), "owner": age + rng.normal(0, 5, n) > 45})
    gaps = complete.mask(rng.random(complete.shape) < missing)
    return complete, gaps


def _trained(table, epochs=60, seed=0):
    likelihood = likelihoods.Tabular.from_table(table)
    keras.utils.set_random_seed(seed)
    model = zoo.VAE(input_shape=(4,), latent_dim=2, hidden_dims=(64, 64), likelihood=likelihood,
                    seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    rows = likelihood.schema.encode(table)
    history = model.fit(zoo.data.from_arrays(rows, batch_size=64, shuffle=True, allow_missing=True),
                        epochs=epochs, verbose=0)
    return model, history.history["loss"]


@pytest.fixture(scope="module")
def trained():
    complete, gaps = people()
    model, losses = _trained(gaps)
    return model, losses, complete, gaps


# ----------------------------------------------------------------------------- schema
def test_types_are_inferred_from_values_and_can_be_overridden():
    table = pd.DataFrame({
        "name": ["a", "b", "c", "a"], "small_int": [1, 2, 1, 3], "count": [10, 200, 31, 4],
        "ratio": [0.5, 0.25, 1.5, 2.0], "flag": [True, False, True, True],
        # integers with a gap arrive as floats; still whole numbers
        "rooms": [1.0, np.nan, 3.0, 2.0], "code_text": ["3", "5", "3", "7"]})
    schema = tables.TableSchema.infer(table, max_categories=3)
    kinds = {c["name"]: c["type"] for c in schema.columns}
    assert kinds == {"name": "categorical", "small_int": "categorical", "count": "integer",
                     "ratio": "numeric", "flag": "boolean", "rooms": "categorical",
                     "code_text": "categorical"}
    assert schema.columns[0]["categories"] == ["a", "b", "c"]
    assert schema.columns[4]["categories"] == [False, True]
    override = tables.TableSchema.infer(table, types={"small_int": "integer", "count": "numeric"})
    assert [c["type"] for c in override.columns[1:3]] == ["integer", "numeric"]
    assert tables.TableSchema.from_config(json.loads(json.dumps(schema.get_config()))) == schema


def test_skewed_non_negative_columns_are_modelled_in_log_units():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"population": np.round(np.exp(rng.normal(3, 1.5, 500))),
                          "age": rng.integers(18, 80, 500), "delta": rng.normal(size=500) ** 3})
    schema = tables.TableSchema.infer(table)
    # skewed and >= 0: log1p; symmetric: none; skewed but negative values: none
    assert schema.log1p_columns == [0]
    assert "population: integer (log1p)" in repr(schema)
    assert tables.TableSchema.from_config(json.loads(json.dumps(schema.get_config()))) == schema
    assert tables.TableSchema.infer(table, transforms={"population": "none"}).log1p_columns == []
    assert tables.TableSchema.infer(table, transforms={"age": "log1p"}).log1p_columns == [0, 1]
    mean, _ = schema.statistics(schema.encode(table))
    assert mean[0] == pytest.approx(np.log1p(table["population"]).mean(), rel=1e-5)
    with pytest.raises(ValueError, match="applies to numeric and integer columns"):
        tables.TableSchema.infer(pd.DataFrame({"c": ["a", "b"] * 3}), transforms={"c": "log1p"})
    with pytest.raises(ValueError, match="log\\(1 \\+ x\\) is undefined"):
        tables.TableSchema.infer(table, transforms={"delta": "log1p"})
    likelihood = likelihoods.Tabular.from_table(table)
    assert likelihood.log1p == [0]


def test_encode_and_decode_round_trip_to_the_original_values():
    complete, gaps = people(50)
    schema = tables.TableSchema.infer(gaps)
    rows = schema.encode(gaps)
    assert rows.dtype == np.float32 and rows.shape == (50, 4)
    np.testing.assert_array_equal(np.isnan(rows), gaps.isna().to_numpy())
    back = schema.decode(rows, index=gaps.index)
    observed = gaps.notna()
    for name in gaps.columns:
        expected = gaps[name][observed[name]]
        got = back[name][observed[name]]
        if name == "income":
            np.testing.assert_allclose(got.astype(float), expected.astype(float), rtol=1e-6)
        else:
            assert list(got) == list(expected), name
    assert back["age"].dtype == "Int64" and back["owner"].dtype == "boolean"


@pytest.mark.parametrize("table,kwargs,error,fragment", [
    (pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]}), {}, ValueError, "'b' has no observed"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "x"]}), {}, ValueError, "'b' holds one value"),
    (pd.DataFrame({"a": [1.0, 2.0]}), {"types": {"z": "numeric"}}, ValueError, "['z']"),
    (pd.DataFrame({"a": [1.0, 2.0]}), {"types": {"a": "text"}}, ValueError, "types['a']"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), {"types": {"b": "numeric"}}, ValueError,
     "'b' is numeric but holds 'x'"),
    (pd.DataFrame(), {}, ValueError, "empty"),
    ("table.txt", {}, TypeError, "DataFrame or a .csv"),
    ("missing.csv", {}, ValueError, "No such table file"),
])
def test_bad_tables_are_refused_with_the_column_named(table, kwargs, error, fragment):
    with pytest.raises(error) as info:
        tables.TableSchema.infer(table, **kwargs)
    assert fragment in str(info.value)


def test_an_unseen_category_is_an_error_or_missing_as_asked():
    schema = tables.TableSchema.infer(pd.DataFrame({"city": ["Lyon", "Nice"], "x": [1.0, 2.0]}))
    new = pd.DataFrame({"city": ["Lyon", "Brest"], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="'city' has a category the model never saw: 'Brest'"):
        schema.encode(new)
    assert np.isnan(schema.encode(new, unknown="missing")[1, 0])
    with pytest.raises(ValueError, match=r"lacks the model's columns \['x'\]"):
        schema.encode(new[["city"]])


# ----------------------------------------------------------------------------- likelihood
def test_a_missing_entry_drops_out_of_the_row_log_probability():
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(size=(3, 4)), np.exp(rng.normal(size=(3, 4)))
    logits = rng.normal(size=(3, 4, 3))
    args = dict(loc=loc, scale=scale, logits=logits, mean=np.zeros(4), std=np.ones(4),
                num_categories=[0, 3, 0, 2])
    x = np.array([[0.3, 2.0, -1.0, 1.0]] * 3)
    full = distributions.MixedTabular(**args).log_prob(x).numpy()  # [3, 4] per entry
    gaps = x.copy()
    gaps[0, 0] = gaps[1, 1] = gaps[2, [2, 3]] = np.nan
    with tf.GradientTape() as tape:
        loc_t = tf.Variable(loc)
        per_entry = distributions.MixedTabular(**{**args, "loc": loc_t}).log_prob(gaps)
        total = tf.reduce_sum(per_entry)
    expected = np.where(np.isnan(gaps), 0.0, full)
    np.testing.assert_allclose(per_entry.numpy(), expected, rtol=1e-6)
    grad = tape.gradient(total, loc_t).numpy()
    assert np.all(np.isfinite(grad)) and grad[0, 0] == 0.0  # no signal from a missing entry


def test_training_on_rows_with_gaps_lowers_the_loss_and_scores_tables(trained):
    model, losses, _, gaps = trained
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0] - 1.0
    head = gaps.head(20)
    np.testing.assert_allclose(model.elbo(head, seed=0),
                               model.elbo(model.likelihood.schema.encode(head), seed=0), rtol=1e-6)
    with pytest.raises(TypeError, match="x is a table, but this model was not trained on one"):
        zoo.VAE(input_shape=(4,), latent_dim=2, likelihood="gaussian").elbo(head)


def test_the_schema_is_saved_with_the_model(trained, tmp_path):
    model, _, _, gaps = trained
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert restored.likelihood.schema == model.likelihood.schema
    np.testing.assert_allclose(restored.elbo(gaps.head(10), seed=1), model.elbo(gaps.head(10), seed=1),
                               rtol=1e-6)


# ----------------------------------------------------------------------------- imputation
@pytest.mark.parametrize("method", ["pseudo_gibbs", "importance", "posterior"])
def test_imputed_categories_are_categories_and_the_rows_score(trained, method):
    model, _, _, gaps = trained
    rows = model.likelihood.schema.encode(gaps.head(64))
    filled = np.asarray(model.impute(rows, method=method, num_iterations=20, seed=0))
    assert not np.isnan(filled).any()
    codes = filled[:, [0, 3]]
    assert np.all(codes == np.round(codes)) and codes.min() >= 0 and filled[:, 0].max() <= 3
    assert np.all(filled[:, 1] == np.round(filled[:, 1]))  # age, an integer column
    observed = ~np.isnan(rows)
    np.testing.assert_array_equal(filled[observed], rows[observed])
    assert np.all(np.isfinite(model.elbo(filled, seed=0)))  # valid input for the model itself


@pytest.mark.parametrize("method", ["pseudo_gibbs", "posterior"])
def test_a_table_comes_back_complete_in_its_own_values(trained, method):
    model, _, complete, gaps = trained
    part = gaps.iloc[:300]
    filled = model.impute(part, method=method, num_iterations=30, seed=0)
    assert isinstance(filled, pd.DataFrame) and list(filled.columns) == list(gaps.columns)
    assert not filled.isna().any().any()
    assert set(filled["city"]) <= set(CITIES) and filled["age"].dtype == "Int64"
    assert filled["income"].between(gaps["income"].min(), gaps["income"].max()).all()
    observed = part.notna()
    for name in part.columns:  # observed cells are the user's own, unchanged
        assert list(filled[name][observed[name]]) == list(part[name][observed[name]])
    # The hidden city is read off the income: far better than the most common city.
    hidden = part["city"].isna() & part["income"].notna()
    truth = complete["city"].iloc[:300][hidden]
    accuracy = (filled["city"][hidden] == truth).mean()
    majority = truth.value_counts(normalize=True).max()
    assert hidden.sum() >= 20 and accuracy > max(0.8, majority + 0.3), (accuracy, majority)


@pytest.mark.parametrize("method", ["pseudo_gibbs", "posterior"])
def test_multiple_imputation_gives_draws_that_differ_where_cells_were_missing(trained, method):
    model, _, _, gaps = trained
    part = gaps.iloc[:100]
    draws = model.impute(part, method=method, num_draws=3, num_iterations=20, seed=0)
    assert len(draws) == 3 and all(not d.isna().any().any() for d in draws)
    missing_income = part["income"].isna()
    assert (draws[0]["income"][missing_income] != draws[1]["income"][missing_income]).any()
    for d in draws:
        assert list(d["income"][~missing_income]) == list(part["income"][~missing_income])
    with pytest.raises(ValueError, match="num_draws is for tables"):
        model.impute(model.likelihood.schema.encode(part), num_draws=2)


def test_the_default_method_follows_the_model(trained):
    model, _, _, gaps = trained
    assert imputation.default_method(model) == "posterior"
    assert imputation.default_method(zoo.VAE(input_shape=(3,), latent_dim=2)) == "pseudo_gibbs"
    part = gaps.iloc[:50]
    pd.testing.assert_frame_equal(model.impute(part, seed=3), model.impute(part, method="posterior", seed=3))


def test_impute_without_a_mask_needs_nan_at_the_missing_entries():
    model = zoo.VAE(input_shape=(3,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian")
    with pytest.raises(ValueError, match="impute needs a mask"):
        model.impute(np.zeros((2, 3), np.float32))


# ----------------------------------------------------------------------------- data
def test_a_csv_loads_as_a_pipeline_of_rows_with_missing_cells(tmp_path):
    _, gaps = people(100)
    path = tmp_path / "people.csv"
    gaps.to_csv(path, index=False)
    schema = tables.TableSchema.infer(gaps)
    ds = zoo.data.load(str(path), "train[:80%]", batch_size=16, shuffle=False, schema=schema)
    rows = np.concatenate(list(ds.as_numpy_iterator()))
    np.testing.assert_array_equal(np.isnan(rows), gaps.iloc[:80].isna().to_numpy())
    from_frame = np.concatenate(list(zoo.data.load(gaps, "train[:80%]", shuffle=False).as_numpy_iterator()))
    np.testing.assert_array_equal(np.nan_to_num(rows, nan=-1), np.nan_to_num(from_frame, nan=-1))
    gaps.to_parquet(tmp_path / "people.parquet")
    assert tables.TableSchema.infer(str(tmp_path / "people.parquet")) == tables.TableSchema.infer(str(path))
    with pytest.raises(ValueError, match="A table is one split, 'train'"):
        zoo.data.load(str(path), "test")
    with pytest.raises(ValueError, match="binarize is for images"):
        zoo.data.load(str(path), binarize="static")


# ----------------------------------------------------------------------------- command line
def test_the_command_line_trains_scores_and_imputes_a_csv(tmp_path, capsys):
    complete, gaps = people(400)
    data = str(tmp_path / "people.csv")
    gaps.to_csv(data, index=False)
    run = str(tmp_path / "run")
    assert cli.main(["train", "--plot-every", "0",
                     "--data", data, "--split", "train[:300]", "--epochs", "3",
                     "--latent-dim", "2", "--hidden-dims", "16", "--output-dir", run,
                     "--quiet"]) == 0
    assert "city (categorical), age (integer), income (numeric), owner (boolean)" in capsys.readouterr().out
    model = str(tmp_path / "run" / "model.keras")
    assert cli.main(["eval", model, "--data", data, "--split", "train[300:]", "-k", "10"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["num_examples"] == 100 and np.isfinite(figures["nll"])
    scores = str(tmp_path / "scores.csv")
    assert cli.main(["score", model, "--data", data, "--split", "train[300:]", "-o", scores]) == 0
    assert len(pd.read_csv(scores)) == 100 and json.loads(capsys.readouterr().out)["num_examples"] == 100
    out = str(tmp_path / "filled.csv")
    assert cli.main(["impute", model, "--data", data, "-o", out, "--num-iterations", "10"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cells_filled"] == int(gaps.isna().to_numpy().sum()) and summary["rows"] == 400
    assert summary["method"] == "posterior"  # the default for a model trained with gaps
    filled = pd.read_csv(out)
    assert len(filled) == 400 and not filled.isna().any().any()
    assert set(filled["city"]) <= set(CITIES)
    assert (filled["age"] == filled["age"].round()).all()
    draws = str(tmp_path / "draws.csv")
    assert cli.main(["impute", model, "--data", data, "--split", "train[:10]", "--num-draws", "2",
                     "-o", draws, "--num-iterations", "10"]) == 0
    assert list(pd.read_csv(draws)["draw"]) == [0] * 10 + [1] * 10
    # A table's likelihood comes from its columns; asking for another is refused.
    assert cli.main(["train", "--plot-every", "0",
                     "--data", data, "--likelihood", "bernoulli", "--output-dir",
                     str(tmp_path / "r2"), "--quiet"]) == 2
    assert "A table's likelihood is zoo.likelihoods.Tabular" in capsys.readouterr().err


def test_imputation_chains_stay_within_the_training_range():
    # A heavy-tailed column and an untrained decoder: without constraining the draws fed
    # back into the chains, a chain runs away (1e12 and then NaN weights in practice).
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"size": np.exp(rng.normal(0, 3, 300)), "group": rng.choice(["a", "b"], 300),
                          "score": rng.normal(0, 1, 300)})
    gaps = table.mask(rng.random(table.shape) < 0.5)
    likelihood = likelihoods.Tabular.from_table(gaps)
    keras.utils.set_random_seed(0)
    model = zoo.VAE(input_shape=(3,), latent_dim=2, hidden_dims=(16,), likelihood=likelihood, seed=0)
    lo, hi = gaps["size"].min(), gaps["size"].max()
    clipped = likelihood.constrain(tf.constant([[1e12, 5.0, -1e9]], tf.float32)).numpy()
    assert clipped[0, 0] == pytest.approx(hi, rel=1e-6) and clipped[0, 1] == 1.0
    rows = likelihood.schema.encode(gaps)
    for method in ("pseudo_gibbs", "importance", "posterior"):
        filled = np.asarray(model.impute(rows, method=method, num_iterations=30, seed=0))
        assert np.all(np.isfinite(filled)), method
        assert filled[:, 0].min() >= lo * (1 - 1e-6) and filled[:, 0].max() <= hi * (1 + 1e-6)
