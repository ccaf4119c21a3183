"""Score every example of a split for anomaly (higher = more anomalous) and write the scores as
CSV (index, score[, flagged]). With --calibrate-split, a threshold is set on that split of
normal data so that at most --target-fpr of it is flagged, and each scored example is
flagged against it. Prints a JSON summary.
"""

import json

from zoo.applications import anomaly
from zoo.cli import common
from zoo.cli.common import MODEL_BINARIZE

NAME = "score"
HELP = "anomaly scores of a dataset split, optionally thresholded"


def add_arguments(p):
    common.add_model_arg(p)
    common.add_data_args(p, "test", MODEL_BINARIZE)
    p.add_argument("--score", default=[anomaly.DEFAULT_SCORE], nargs="+", choices=anomaly.SCORES,
                   help="sample_knn (default): distance of the encoder features to those of the "
                        "model's own samples, needs no data; elbo / iwae: negative bounds on "
                        "log p(x), which rate simple foreign images as normal; reconstruction; "
                        "elbo_complexity: negative ELBO minus a lossless code length "
                        "(--compressor); typicality: distance of the negative ELBO from its mean "
                        "over --reference-split; likelihood_ratio: against a --background model; "
                        "level_ratio: ELBO minus the bound with the lowest --levels groups from "
                        "the prior (HVAE); latent_knn / feature_knn: distance to the nearest "
                        "examples of --reference-split. Several scores are combined: each "
                        "standardised on --calibrate-split, then averaged")
    p.add_argument("--reference-split", default=None,
                   help=f"{', '.join(anomaly.REFERENCE_SCORES)}: split of normal data to compare "
                        "with, e.g. train[:50000]")
    p.add_argument("--neighbours", type=int, default=None,
                   help="kNN scores: nearest reference examples averaged (default: 5 for "
                        "sample_knn, 2 for latent_knn and feature_knn)")
    p.add_argument("--metric", default="euclidean", choices=anomaly.METRICS,
                   help="kNN scores: euclidean, or seuclidean (each dimension divided by its "
                        "standard deviation over the reference) (default: euclidean)")
    p.add_argument("--compressor", default="png", choices=anomaly.COMPRESSORS,
                   help="elbo_complexity: lossless codec of the code length (default: png)")
    p.add_argument("--background", default=None, metavar="MODEL",
                   help="likelihood_ratio: the model trained on perturbed data "
                        "(zoo.applications.anomaly.train_background), a .keras file or preset")
    p.add_argument("--levels", type=int, default=1,
                   help="level_ratio: lowest latent groups drawn from the prior (default: 1)")
    p.add_argument("--num-samples", "-k", type=int, default=None,
                   help="posterior samples (elbo: 1, iwae: 100 by default)")
    p.add_argument("--ensemble", default=[], nargs="+", metavar="MODEL",
                   help="more models (e.g. the same recipe, other seeds) scored like MODEL; "
                        "every model's scores are standardised and averaged (needs "
                        "--calibrate-split)")
    p.add_argument("--calibrate-split", default=None,
                   help="split of normal data that sets the threshold, e.g. train[-5000:]")
    p.add_argument("--target-fpr", type=float, default=0.05,
                   help="share of normal data allowed above the threshold (default: 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scores (default: 0)")
    p.add_argument("--output", "-o", default="scores.csv", help="CSV file (default: scores.csv)")


def run(args):
    import numpy as np

    import zoo
    from zoo import io_utils

    def split(name):
        return common.model_data(args, models[0], name)

    # Checked before any data is read, so a missing or stray flag fails at once.
    if any(s in anomaly.REFERENCE_SCORES for s in args.score) != (args.reference_split is not None):
        raise ValueError(f"--reference-split is needed by --score {'/'.join(anomaly.REFERENCE_SCORES)} "
                         f"and only by those. Received: --score {' '.join(args.score)} with "
                         f"--reference-split {args.reference_split}")
    if len(args.score) > 1 and not args.calibrate_split:
        raise ValueError(f"Several scores are combined by standardising them on normal data: "
                         f"pass --calibrate-split. Received: --score {' '.join(args.score)} "
                         "without --calibrate-split")
    if args.ensemble and not args.calibrate_split:
        raise ValueError(f"An ensemble's scores are combined by standardising them on normal "
                         f"data: pass --calibrate-split. Received: --ensemble "
                         f"{' '.join(args.ensemble)} without --calibrate-split")
    models = [zoo.load_model(m) for m in (args.model, *args.ensemble)]
    reference = split(args.reference_split) if args.reference_split else None
    background = zoo.load_model(args.background) if args.background else None
    detector = anomaly.AnomalyDetector(models, score=args.score,
                                       target_fpr=args.target_fpr, num_samples=args.num_samples,
                                       seed=args.seed, reference=reference,
                                       neighbours=args.neighbours, metric=args.metric,
                                       compressor=args.compressor, background=background,
                                       levels=args.levels)

    summary = {"model": args.model, "dataset": args.dataset, "split": args.split,
               "score": detector.score_name}
    if args.ensemble:
        summary["ensemble"] = args.ensemble
    if reference is not None:
        summary["reference_split"] = args.reference_split
    if any(s in anomaly.KNN_SCORES for s in args.score):
        summary.update(neighbours=detector.options.neighbours_for(
            next(s for s in args.score if s in anomaly.KNN_SCORES)), metric=args.metric)
    if args.background:
        summary["background"] = args.background
    if args.calibrate_split:
        summary["threshold"] = detector.calibrate(split(args.calibrate_split))
        summary.update(calibrate_split=args.calibrate_split, target_fpr=args.target_fpr)
    scores = detector.score(split(args.split))
    if args.calibrate_split:
        flagged = scores > summary["threshold"]
        lines = ["index,score,flagged"] + [f"{i},{v:.6g},{int(f)}"
                                             for i, (v, f) in enumerate(zip(scores, flagged))]
        summary["num_flagged"] = int(flagged.sum())
    else:
        lines = ["index,score"] + [f"{i},{v:.6g}" for i, v in enumerate(scores)]
    io_utils.write_text(args.output, "\n".join(lines) + "\n")
    summary.update(num_examples=int(len(scores)), mean_score=float(np.mean(scores)),
                   max_score=float(np.max(scores)), output=args.output)
    print(json.dumps(summary, indent=2))
    return 0
